"""The optimizers: each one `chain` of building blocks, with optax's keyword names.

- `gradient_descent`: sgd (momentum, Nesterov), noisy_sgd;
- `adaptive`: adagrad, rmsprop, adadelta;
- `adam`: adam, adamw, nadam, amsgrad, adamax, radam, adabelief;
- `sign_based`: rprop, adaptive_gains, lion;
- `layerwise`: lamb, lars;  `factored`: adafactor;  `orthogonal`: muon;
- `schedule_free`: schedule_free_sgd, schedule_free_adamw;
- `second_order`: newton, bfgs, lbfgs.
- `adaptive_moments`: adan, novograd, sm3, optimistic_adam(_v2);
- `step_sizes`: polyak_sgd, fromage, optimistic_gradient_descent.

Every default descends a loss as it is: learning rates default to the value the method's
paper or the lecture recommends. Everything is re-exported by `optim`; import it from there.
"""
