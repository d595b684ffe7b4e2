"""The building blocks: one module per family of gradient transformations.

- `scaling`: by a number, a learning rate or a schedule;
- `clipping`: each entry, or the global norm;
- `momentum`: heavy-ball and Nesterov traces, moving averages;
- `adaptive`: AdaGrad, RMSProp, AdaDelta;
- `adam`: Adam and NAdam; `adam_variance`: AMSGrad, AdaMax, RAdam, AdaBelief;
- `sign_based`: sign, Rprop, the lecture's adaptive gains, Lion;
- `regularization`: decoupled weight decay;
- `noise`: annealed gradient noise;
- `layerwise`: LARS and LAMB's trust ratios;
- `factored`: Adafactor's factored moments and relative steps;
- `orthogonal`: Muon's Newton-Schulz orthogonalization.
- `adan`, `novograd`, `sm3`: optax's Adan, NovoGrad and SM3 scalings;
- `optimistic`: optimistic gradients;  `polyak`: the Polyak step from the loss;
- `distance_over_gradients`: layer-wise DoG;  `block_norms`: scaling by params' and updates'
  norms;  `adaptive_clipping`: adaptive and per-example clipping.

Everything public is re-exported by `optim`; import it from there.
"""
