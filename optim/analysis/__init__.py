"""Analysis of optimization: curvature, the optimal learning rate, gradient checks.

    optim.analysis.top_hessian_eigenvalue(loss, params)     # lambda_max by Lanczos
    optim.analysis.optimal_learning_rate(loss, params)      # 1 / lambda_max
    optim.analysis.learning_rate_regime(0.15, 10.0)         # "oscillating"
    optim.analysis.gradient_check(loss, params)             # max relative error

- `curvature`: Hessian-vector products, the Hessian, power iteration, Lanczos, condition numbers;
- `learning_rate`: the lectures' optimal rate and regimes on a quadratic, the LR range test;
- `gradients`: finite-difference gradient checks.
"""

from optim.analysis.curvature import (
    EigenResult,
    condition_number,
    hessian,
    hessian_eigenvalues,
    hessian_vector_product,
    power_iteration,
    top_hessian_eigenvalue,
)
from optim.analysis.gradients import gradient_check
from optim.analysis.learning_rate import (
    LRRangeResult,
    learning_rate_regime,
    lr_range_test,
    optimal_learning_rate,
)

__all__ = [
    "EigenResult",
    "LRRangeResult",
    "condition_number",
    "gradient_check",
    "hessian",
    "hessian_eigenvalues",
    "hessian_vector_product",
    "learning_rate_regime",
    "lr_range_test",
    "optimal_learning_rate",
    "power_iteration",
    "top_hessian_eigenvalue",
]
