"""The second-order optimizers, each one chain of a preconditioner, a sign and a line search.

    newton() = chain(scale_by_newton(), scale(-1), scale_by_backtracking_linesearch(...))
    bfgs()   = chain(scale_by_bfgs(),   scale(-1), scale_by_zoom_linesearch(...))
    lbfgs()  = chain(scale_by_lbfgs(),  scale(-1), scale_by_zoom_linesearch(...))

Their updates need `params`, and the line searches `value`, `grad` and `value_fn`;
`optim.minimize` passes all of them.
"""

from __future__ import annotations

from typing import Any

from optim._core.base import GradientTransformation
from optim._core.combine import chain, identity
from optim.second_order.backtracking import scale_by_backtracking_linesearch
from optim.second_order.newton import scale_by_newton
from optim.second_order.quasi_newton import scale_by_bfgs, scale_by_lbfgs
from optim.second_order.zoom import scale_by_zoom_linesearch
from optim.transforms.scaling import scale, scale_by_learning_rate


def _descent(learning_rate: Any) -> GradientTransformation:
    """Negate the direction: `scale(-1)` before a line search, else the learning rate."""
    return scale(-1.0) if learning_rate is None else scale_by_learning_rate(learning_rate)


def _linesearch(linesearch: Any) -> GradientTransformation:
    """A line search from its name ('zoom', 'backtracking'), a transform, or None (none)."""
    if linesearch is None:
        return identity()
    if linesearch == "zoom":
        return scale_by_zoom_linesearch(max_linesearch_steps=30, initial_guess_strategy="one")
    if linesearch == "backtracking":
        return scale_by_backtracking_linesearch(
            max_backtracking_steps=40, decrease_factor=0.5, increase_factor=float("inf")
        )
    if isinstance(linesearch, str):
        raise ValueError(
            f"linesearch must be 'zoom', 'backtracking', None or a transform, got {linesearch!r}"
        )
    return linesearch


def newton(
    learning_rate: Any = None,
    *,
    damping: float = 0.0,
    solver: str = "auto",
    max_cg_steps: int | None = None,
    cg_rtol: float | None = None,
    linesearch: Any = "backtracking",
) -> GradientTransformation:
    """Damped Newton: `chain(scale_by_newton(damping, solver=...), scale(-1), linesearch)`.

    Args:
      learning_rate: None (the line search picks the step), or a fixed step size replacing
        `scale(-1)` by `scale_by_learning_rate(learning_rate)`.
      damping: Levenberg's `damping * I` added to the Hessian (0).
      solver: "dense", "cg" (Newton-CG by Hessian-vector products) or "auto" (dense for at
        most 500 params).
      max_cg_steps, cg_rtol: Newton-CG's iteration cap (n) and residual tolerance (N&W's
        forcing sequence).
      linesearch: "backtracking" (from the full step 1, halving; N&W sec. 3.5), "zoom", None,
        or a line-search transform.
    """
    return chain(
        scale_by_newton(damping, solver=solver, max_cg_steps=max_cg_steps, cg_rtol=cg_rtol),
        _descent(learning_rate),
        _linesearch(linesearch),
    )


def bfgs(
    learning_rate: Any = None,
    *,
    scale_init_precond: bool = False,
    linesearch: Any = "zoom",
) -> GradientTransformation:
    """BFGS: `chain(scale_by_bfgs(), scale(-1), scale_by_zoom_linesearch(initial one))`.

    Args:
      learning_rate: None (the line search picks the step), or a fixed step size.
      scale_init_precond: scale the first inverse Hessian by `y^T s / y^T y` (N&W eq. 6.20);
        off by default, as scipy.
      linesearch: "zoom" (strong Wolfe, first trial step 1), "backtracking", None, or a
        line-search transform.
    """
    return chain(
        scale_by_bfgs(scale_init_precond), _descent(learning_rate), _linesearch(linesearch)
    )


def lbfgs(
    learning_rate: Any = None,
    memory_size: int = 10,
    scale_init_precond: bool = True,
    *,
    linesearch: Any = "zoom",
) -> GradientTransformation:
    """L-BFGS: `chain(scale_by_lbfgs(memory_size), scale(-1), zoom line search)`, as optax.

    Args:
      learning_rate: None (the line search picks the step), or a fixed step size.
      memory_size: the secant pairs kept (10).
      scale_init_precond: the initial scaling `s^T y / y^T y` of the two-loop recursion.
      linesearch: "zoom" (strong Wolfe, first trial step 1), "backtracking", None, or a
        line-search transform.
    """
    return chain(
        scale_by_lbfgs(memory_size, scale_init_precond),
        _descent(learning_rate),
        _linesearch(linesearch),
    )
