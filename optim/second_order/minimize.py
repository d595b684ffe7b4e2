"""`minimize`: run an optimizer on a deterministic objective until a stopping rule holds.

    result = optim.minimize(f, x0, optim.lbfgs(), max_steps=500, tol_grad=1e-8)
    result.params, result.value, result.num_steps, result.converged, result.reason

The whole run is one jitted `lax.while_loop`. Each step computes `f` and its gradient at the
current params and calls `optimizer.update(grad, state, params, value=, grad=, value_fn=)`, so
first-order optimizers (which ignore the extras), line searches and Newton's method (which use
them) run the same way, and so do optax optimizers (an `update` that does not accept the
extras gets only the ones it declares).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from _descent import validation
from optim._core.base import GradientTransformation, OptState, Params, apply_updates
from optim._core.combine import call_update
from optim.tree import tree_all_finite, tree_global_norm, tree_sub, tree_sum_of_squares

__all__ = ["REASONS", "MinimizeResult", "Trajectory", "minimize"]

REASONS = (
    "running",
    "tol_grad",
    "stationary",
    "tol_params",
    "tol_value",
    "max_steps",
    "diverged",
    "stalled",
)
"""The stopping reasons, indexed by `MinimizeResult.reason_code`:

- `tol_grad`: the gradient norm fell to `tol_grad` or below (converged);
- `stationary`: the gradient is exactly zero, with `tol_grad` not given (converged);
- `tol_params`: the step `||x_new - x_old||` was at most `tol_params` (converged);
- `tol_value`: the change `|f(x_new) - f(x_old)|` was at most `tol_value` (converged);
- `max_steps`: `max_steps` updates were made (not converged);
- `diverged`: the value or the params became NaN or infinite (not converged);
- `stalled`: the optimizer returned an update of exactly zero while the gradient was not zero,
  e.g. a line search that found no step decreasing f (not converged).
"""
_CODE = {name: i for i, name in enumerate(REASONS)}
_CONVERGED = ("tol_grad", "stationary", "tol_params", "tol_value")


class Trajectory(NamedTuple):
    """The iterates `params[i]` and values `values[i]` for i = 0..num_steps (x0 first).

    Buffers have `max_steps + 1` rows; rows after `num_steps` are NaN.
    """

    params: Any
    values: jax.Array


class MinimizeResult(NamedTuple):
    """The outcome of `minimize`. `reason` names why it stopped (see `REASONS`)."""

    params: Params
    value: jax.Array
    grad_norm: jax.Array
    num_steps: jax.Array
    converged: jax.Array
    reason_code: jax.Array
    state: OptState
    trajectory: Trajectory | None = None
    aux: Any = None

    @property
    def reason(self) -> Any:
        """The stopping reason as a string (an array of strings for a vmapped result)."""
        codes = np.asarray(self.reason_code)
        if codes.ndim == 0:
            return REASONS[int(codes)]
        return np.vectorize(lambda c: REASONS[int(c)], otypes=[object])(codes)

    def __repr__(self) -> str:
        """A few lines (why it stopped, the steps, the value), not the arrays."""
        codes = np.asarray(self.reason_code)
        fields = "  fields: " + ", ".join(self._fields)
        if codes.ndim:  # a vmapped result
            reasons, counts = np.unique(np.asarray(self.reason, str), return_counts=True)
            told = ", ".join(f"{r} {c}" for r, c in zip(reasons, counts, strict=True))
            return (f"MinimizeResult: {codes.size} problems, "
                    f"{int(np.sum(self.converged))} converged ({told})\n{fields}")
        said = "converged" if bool(self.converged) else "not converged"
        return (f"MinimizeResult: {said} ({self.reason}) after {int(self.num_steps)} steps\n"
                f"  value {float(self.value):.6g}, gradient norm {float(self.grad_norm):.3g}\n"
                f"{fields}")


def _tolerance(name: str, value: float | None) -> float:
    if value is None:
        return -1.0  # never met: norms are >= 0
    validation.non_negative(name, value)
    return float(value)


def minimize(
    fun: Callable[..., Any],
    x0: Params,
    optimizer: GradientTransformation,
    *,
    max_steps: int,
    tol_grad: float | None = None,
    tol_params: float | None = None,
    tol_value: float | None = None,
    args: tuple = (),
    has_aux: bool = False,
    return_trajectory: bool = False,
) -> MinimizeResult:
    """Minimize `fun(x, *args)` from `x0` (any pytree of floats) with `optimizer`.

    Stopping rules (the lectures' three, plus the gradient norm), checked after every update in
    this order of precedence:

    1. `diverged`: `f(x)` or `x` is not finite (then `converged` is False);
    2. `tol_grad`: `||grad f(x)||_2 <= tol_grad` (the l2 norm over all leaves; scipy's BFGS
       uses the max-norm, which is never larger, so the same tolerance is at least as strict
       here); an exactly zero gradient stops as `stationary` when `tol_grad` is None;
    3. `stalled`: the update was exactly zero (a failed line search) - not converged;
    4. `tol_params`: `||x_new - x_old||_2 <= tol_params` ("change in theta");
    5. `tol_value`: `|f(x_new) - f(x_old)| <= tol_value` ("change in J");
    6. `max_steps` updates made (not converged).

    Tolerances left as None are not checked; all are absolute. `x0` itself is checked first
    (a non-finite start or a gradient already within `tol_grad` makes 0 steps).

    Each step calls `optimizer.update(grad, state, x, value=f(x), grad=grad, value_fn=f)` with
    `f = lambda x: fun(x, *args)` (its first output if `has_aux`). With `return_trajectory`,
    `result.trajectory` holds every iterate and value (buffers of `max_steps + 1` rows filled
    inside the loop). `fun` and `optimizer` are static: calling again with the same objects and
    shapes reuses the compiled loop, whatever `x0`, `args` and the tolerances.

    Returns a `MinimizeResult` (`params`, `value`, `grad_norm`, `num_steps`, `converged`,
    `reason`, the final optimizer `state`, `trajectory`, and `aux` when `has_aux`).
    """
    validation.integer("max_steps", max_steps, 0)
    if not (hasattr(optimizer, "init") and hasattr(optimizer, "update")):
        raise TypeError(f"optimizer must be a GradientTransformation, got {optimizer!r}")
    tolerances = jnp.asarray(
        [
            _tolerance("tol_grad", tol_grad),
            _tolerance("tol_params", tol_params),
            _tolerance("tol_value", tol_value),
        ],
        jnp.float32,
    )
    # Strong dtypes, so that a weakly typed x0 (jnp.full(3, 5.0)) does not compile again.
    x0 = jax.tree.map(lambda x: jnp.asarray(x, jnp.result_type(x)), x0)
    return _run(
        fun, optimizer, int(max_steps), bool(has_aux), bool(return_trajectory),
        x0, tuple(args), tolerances, tol_grad is None,
    )


class _Carry(NamedTuple):
    step: jax.Array
    params: Any
    state: Any
    value: jax.Array
    grad: Any
    aux: Any
    code: jax.Array
    traj_params: Any
    traj_values: Any


def _classify(tolerances, grad_norm, step_norm, update_zero, value_change, finite, step,
              max_steps, zero_grad_is_stationary):
    """The reason code after a step (0 while running), by the documented precedence."""
    tol_grad, tol_params, tol_value = tolerances[0], tolerances[1], tolerances[2]
    stationary = (grad_norm == 0) & zero_grad_is_stationary
    checks = [
        (~finite, "diverged"),
        (grad_norm <= tol_grad, "tol_grad"),
        (stationary, "stationary"),
        (update_zero & (grad_norm > 0), "stalled"),
        (step_norm <= tol_params, "tol_params"),
        (value_change <= tol_value, "tol_value"),
        (step >= max_steps, "max_steps"),
    ]
    code = jnp.zeros([], jnp.int32)
    for condition, name in reversed(checks):
        code = jnp.where(condition, _CODE[name], code)
    return code.astype(jnp.int32)


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3, 4, 8))
def _run(fun, optimizer, max_steps, has_aux, return_trajectory, x0, args, tolerances,
         zero_grad_is_stationary):
    def value_fn(x):
        out = fun(x, *args)
        return out[0] if has_aux else out

    value_and_grad = jax.value_and_grad(lambda x: fun(x, *args), has_aux=has_aux)

    def evaluate(x):
        if has_aux:
            (value, aux), grad = value_and_grad(x)
        else:
            (value, grad), aux = value_and_grad(x), None
        return jnp.asarray(value), grad, aux

    shape = jnp.shape(jax.eval_shape(value_fn, x0))
    if shape != ():
        raise ValueError(f"fun must return a scalar, got shape {shape}")
    value, grad, aux = evaluate(x0)
    grad_norm = tree_global_norm(grad)
    finite = jnp.isfinite(value) & tree_all_finite(x0)
    code = _classify(tolerances, grad_norm, jnp.inf, jnp.array(False), jnp.inf, finite,
                     jnp.zeros([], jnp.int32), max_steps, zero_grad_is_stationary)

    if return_trajectory:
        traj_params = jax.tree.map(
            lambda x: jnp.full((max_steps + 1, *jnp.shape(x)), jnp.nan, jnp.result_type(x))
            .at[0].set(x),
            x0,
        )
        traj_values = jnp.full((max_steps + 1,), jnp.nan, value.dtype).at[0].set(value)
    else:
        traj_params = traj_values = None

    def cond(c: _Carry):
        return c.code == 0

    def body(c: _Carry) -> _Carry:
        updates, state = call_update(
            optimizer, c.grad, c.state, c.params,
            {"value": c.value, "grad": c.grad, "value_fn": value_fn},
        )
        params = apply_updates(c.params, updates)
        value, grad, aux = evaluate(params)
        value = value.astype(c.value.dtype)
        step = c.step + 1
        finite = jnp.isfinite(value) & tree_all_finite(params)
        code = _classify(
            tolerances,
            tree_global_norm(grad),
            tree_global_norm(tree_sub(params, c.params)),
            tree_sum_of_squares(updates) == 0,
            jnp.abs(value - c.value),
            finite,
            step,
            max_steps,
            zero_grad_is_stationary,
        )
        tp, tv = c.traj_params, c.traj_values
        if return_trajectory:
            tp = jax.tree.map(lambda buf, x: buf.at[step].set(x), tp, params)
            tv = tv.at[step].set(value)
        return _Carry(step, params, state, value, grad, aux, code, tp, tv)

    start = _Carry(
        jnp.zeros([], jnp.int32), x0, optimizer.init(x0), value, grad, aux, code,
        traj_params, traj_values,
    )
    end = jax.lax.while_loop(cond, body, start)
    converged = jnp.zeros([], bool)
    for name in _CONVERGED:
        converged = converged | (end.code == _CODE[name])
    return MinimizeResult(
        params=end.params,
        value=end.value,
        grad_norm=tree_global_norm(end.grad),
        num_steps=end.step,
        converged=converged,
        reason_code=end.code,
        state=end.state,
        trajectory=Trajectory(end.traj_params, end.traj_values) if return_trajectory else None,
        aux=end.aux,
    )
