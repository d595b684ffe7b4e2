"""Second order: Newton, BFGS and L-BFGS as transforms, line searches, and `minimize`.

- `objective`: what these transforms need of the objective (`value`, `grad`, `value_fn`);
- `newton`: `scale_by_newton` (dense with eigenvalue modification, or Newton-CG);
- `quasi_newton`: `scale_by_bfgs`, `scale_by_lbfgs`;
- `backtracking`, `zoom`: the Armijo and strong-Wolfe line searches;
- `minimize`: the jitted driver for deterministic objectives, for any optimizer.

The aliases `newton`, `bfgs` and `lbfgs` are in `optim/aliases/second_order.py`. Everything
public is re-exported by `optim`; import it from there.
"""
