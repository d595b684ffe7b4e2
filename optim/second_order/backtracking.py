"""Backtracking line search for sufficient decrease (Armijo), as a transform.

It receives a descent direction as its updates and needs `value`, `grad` and `value_fn`
(see `optim/second_order/objective.py`); one `lax.while_loop`, so it jits.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from _descent import validation
from _descent.dtypes import scalar_dtype
from optim._core.base import GradientTransformation
from optim._core.steps import safe_increment, step_counter
from optim._core.structure import check_real, check_state
from optim.second_order.objective import check_increase_factor, start_search
from optim.tree import (
    tree_add_scaled,
    tree_cast_like,
    tree_scale,
    tree_zeros_like,
)


class ScaleByBacktrackingLinesearchState(NamedTuple):
    """State of `scale_by_backtracking_linesearch`.

    `learning_rate` is the last step size tried (the accepted one when `success`), from which the
    next search starts; `value` is f at the new params (at the old ones after a failed search);
    `grad` the gradient there when `store_grad=True`, else None.
    """

    count: jax.Array
    learning_rate: jax.Array
    value: jax.Array
    grad: Any
    num_linesearch_steps: jax.Array
    success: jax.Array


def scale_by_backtracking_linesearch(
    max_backtracking_steps: int = 30,
    slope_rtol: float = 1e-4,
    decrease_factor: float = 0.8,
    increase_factor: float = 1.5,
    max_learning_rate: float = 1.0,
    atol: float = 0.0,
    rtol: float = 0.0,
    *,
    store_grad: bool = False,
    verbose: bool = False,
) -> GradientTransformation:
    """Backtracking line search for sufficient decrease (Nocedal & Wright, Algorithm 3.1).

    Starting from `alpha_0 = min(increase_factor * alpha_prev, max_learning_rate)` (the previous
    step size, 1 at the first step; `increase_factor=math.inf` starts at `max_learning_rate`
    every time, as N&W recommend for Newton directions), try `alpha_i = decrease_factor**i *
    alpha_0` until the Armijo condition (N&W eq. 3.4, `c1 = slope_rtol`)

        f(params + alpha d) <= f(params) + slope_rtol * alpha * <grad, d>

    holds, for at most `max_backtracking_steps` trials; `atol` and `rtol` relax it to
    `f(params + alpha d) <= (1 + rtol) f(params) + slope_rtol * alpha * <grad, d> + atol`
    (optax's keywords, 0 both: the exact condition). The updates are `alpha * d`. A
    non-finite trial value counts as a failure of the condition. Convention where libraries
    differ: if no trial satisfies the condition the step is 0 (the params stay, `success` is
    False) rather than the last, non-decreasing trial (optax takes it unless it is non-finite);
    the next search starts from the last step size tried.

    Defaults as optax (`slope_rtol=1e-4` is N&W's `c1`; `decrease_factor=0.8`; N&W use 0.5).
    `d` must be a descent direction (`<grad, d> < 0`), which gradient descent without momentum
    and the quasi-Newton methods give. Needs `params`, `value`, `grad`, `value_fn` (see module).
    `store_grad=True` also evaluates and stores the gradient at the accepted point.
    `verbose` is accepted for optax's signature and prints nothing: printing from `update`
    would need a host callback; the state's `success` and `num_linesearch_steps` say how each
    search went.
    """
    validation.boolean("store_grad", store_grad)
    validation.boolean("verbose", verbose)
    validation.non_negative("atol", atol)
    validation.non_negative("rtol", rtol)
    validation.integer("max_backtracking_steps", max_backtracking_steps, 1)
    validation.in_range("slope_rtol", slope_rtol, 0.0, 1.0, low_open=True, high_open=True)
    validation.in_range("decrease_factor", decrease_factor, 0.0, 1.0, low_open=True, high_open=True)
    check_increase_factor(increase_factor)
    validation.positive("max_learning_rate", max_learning_rate)

    def init(params):
        check_real(params, "scale_by_backtracking_linesearch")
        dtype = scalar_dtype(params)
        return ScaleByBacktrackingLinesearchState(
            count=step_counter(),
            learning_rate=jnp.asarray(max_learning_rate, dtype),
            value=jnp.asarray(jnp.inf, dtype),
            grad=tree_zeros_like(params) if store_grad else None,
            num_linesearch_steps=jnp.zeros([], jnp.int32),
            success=jnp.array(True),
        )

    def update(updates, state, params=None, *, value=None, grad=None, value_fn=None, **extra):
        check_state(state, ScaleByBacktrackingLinesearchState, "scale_by_backtracking_linesearch")
        dtype = state.learning_rate.dtype
        fn, value, slope = start_search(
            "scale_by_backtracking_linesearch", updates, params, value, grad, value_fn, extra, dtype
        )

        if isinstance(increase_factor, jax.core.Tracer):
            # Injected (inject_hyperparams): the same choice, made on the traced value.
            first = jnp.where(
                jnp.isinf(increase_factor),
                max_learning_rate,
                jnp.minimum(increase_factor * state.learning_rate, max_learning_rate),
            )
        elif math.isinf(increase_factor):
            first = jnp.asarray(max_learning_rate, dtype)
        else:
            first = jnp.minimum(increase_factor * state.learning_rate, max_learning_rate)

        def armijo(alpha, new_value):
            bound = (1 + rtol) * value + slope_rtol * alpha * slope + atol
            return jnp.isfinite(new_value) & (new_value <= bound)

        def cond(carry):
            i, _, _, ok = carry
            return (~ok) & (i < max_backtracking_steps)

        def body(carry):
            i, alpha, _, _ = carry
            alpha = jnp.where(i > 0, decrease_factor * alpha, alpha).astype(dtype)
            new_value = jnp.asarray(fn(tree_add_scaled(params, alpha, updates))).astype(dtype)
            return i + 1, alpha, new_value, armijo(alpha, new_value)

        init_carry = (jnp.zeros([], jnp.int32), first.astype(dtype), value, jnp.array(False))
        steps, alpha, new_value, ok = jax.lax.while_loop(cond, body, init_carry)
        step = jnp.where(ok, alpha, 0.0).astype(dtype)
        new_grad = None
        if store_grad:
            # One gradient evaluation at the accepted point, for reuse by the next step.
            at = tree_add_scaled(params, step, updates)
            new_grad = tree_cast_like(jax.grad(lambda p: jnp.asarray(fn(p)))(at), params)
        new_state = ScaleByBacktrackingLinesearchState(
            count=safe_increment(state.count),
            learning_rate=alpha,
            value=jnp.where(ok, new_value, value).astype(dtype),
            grad=new_grad,
            num_linesearch_steps=steps,
            success=ok,
        )
        return tree_cast_like(tree_scale(step, updates), updates), new_state

    return GradientTransformation(init, update)
