"""Line searches as transforms: backtracking (Armijo) and zoom (strong Wolfe).

A line search receives a search direction `d` as its `updates` (already pointing downhill,
e.g. `-learning_rate * g` from `sgd` or `-H g` from a quasi-Newton method) and returns
`alpha * d` for a step size `alpha` it chooses by evaluating the objective along the line

    phi(alpha) = f(params + alpha * d),        phi(0) = value,   phi'(0) = <grad, d>.

Its `update` therefore needs three keyword extras besides `params`, with optax's names:
`value` (f at params), `grad` (the gradient of f at params) and `value_fn` (f itself, called as
`value_fn(params, **kw)` where `kw` are the other extras that `value_fn`'s signature accepts,
e.g. a batch). `optim.minimize` passes them; in a hand-written loop pass them yourself:

    updates, state = tx.update(grad, state, params, value=value, grad=grad, value_fn=f)

Calling the update without them raises a TypeError naming the missing ones (a Python check at
trace time, free at run time). Both searches run as one `lax.while_loop`, so they jit.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from optim import validate
from optim.base import GradientTransformation, Params
from optim.tree import (
    check_same_structure,
    safe_increment,
    step_counter,
    tree_add_scaled,
    tree_cast_like,
    tree_scale,
    tree_vdot,
    tree_where,
    tree_zeros_like,
)

__all__ = [
    "ScaleByBacktrackingLinesearchState",
    "ScaleByZoomLinesearchState",
    "scale_by_backtracking_linesearch",
    "scale_by_zoom_linesearch",
]


# ----------------------------------------------------------------------------------------------
# helpers shared with optim.second_order
# ----------------------------------------------------------------------------------------------


def require_extras(transform: str, **given: Any) -> None:
    """Raise a TypeError naming the keyword arguments of `transform`'s update that are None."""
    missing = [name for name, value in given.items() if value is None]
    if missing:
        needed = ", ".join(f"{name}=..." for name in given)
        raise TypeError(
            f"{transform}.update needs the keyword argument(s) {', '.join(missing)} "
            f"(missing). Call it as update(grads, state, params, {needed}), or run it through "
            "optim.minimize, which passes them."
        )


def bind_value_fn(value_fn: Callable[..., Any], extra: dict[str, Any]) -> Callable[[Params], Any]:
    """`value_fn` as a function of params only, given the extras its signature accepts.

    As in optax, extras named like `value_fn`'s keyword parameters (a batch `x=`, `y=`, ...)
    are forwarded to it; the others are meant for other transforms of a chain and are ignored,
    and so are the line-search keywords themselves (`value`, `grad`, `value_fn`).
    """
    extra = {k: v for k, v in extra.items() if k not in ("value", "grad", "value_fn")}
    try:
        parameters = list(inspect.signature(value_fn).parameters.values())
    except (TypeError, ValueError):
        return value_fn
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        kwargs = dict(extra)
    else:
        names = {
            p.name
            for p in parameters[1:]
            if p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        }
        kwargs = {k: v for k, v in extra.items() if k in names}
    return functools.partial(value_fn, **kwargs) if kwargs else value_fn


def value_dtype(params: Params) -> Any:
    """The dtype of objective values and step sizes: the params' dtype, at least float32."""
    leaves = jax.tree.leaves(params)
    return jnp.promote_types(jnp.result_type(*leaves) if leaves else jnp.float32, jnp.float32)


def _scalar_value(value: Any, dtype: Any, where: str) -> jax.Array:
    value = jnp.asarray(value)
    if value.ndim != 0:
        raise ValueError(f"{where}: value must be a scalar, got shape {value.shape}")
    return value.astype(dtype)

def _start(name, updates, params, value, grad, value_fn, extra, dtype):
    """What both line searches check and compute first: the objective, f(x) and the slope g.d."""
    require_extras(name, params=params, value=value, grad=grad, value_fn=value_fn)
    check_same_structure(updates, params, "updates", "params")
    check_same_structure(grad, params, "grad", "params")
    fn = bind_value_fn(value_fn, extra)
    return fn, _scalar_value(value, dtype, name), tree_vdot(grad, updates).astype(dtype)



def _check_increase(increase_factor: float) -> None:
    # math.inf is allowed: it means "start at max_learning_rate every time".
    validate.in_range("increase_factor", increase_factor, 1.0, allow_infinite=True)


# ----------------------------------------------------------------------------------------------
# backtracking (Armijo)
# ----------------------------------------------------------------------------------------------


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
    *,
    store_grad: bool = False,
) -> GradientTransformation:
    """Backtracking line search for sufficient decrease (Nocedal & Wright, Algorithm 3.1).

    Starting from `alpha_0 = min(increase_factor * alpha_prev, max_learning_rate)` (the previous
    step size, 1 at the first step; `increase_factor=math.inf` starts at `max_learning_rate`
    every time, as N&W recommend for Newton directions), try `alpha_i = decrease_factor**i *
    alpha_0` until the Armijo condition (N&W eq. 3.4, `c1 = slope_rtol`)

        f(params + alpha d) <= f(params) + slope_rtol * alpha * <grad, d>

    holds, for at most `max_backtracking_steps` trials. The updates are `alpha * d`. A
    non-finite trial value counts as a failure of the condition. Convention where libraries
    differ: if no trial satisfies the condition the step is 0 (the params stay, `success` is
    False) rather than the last, non-decreasing trial (optax takes it unless it is non-finite);
    the next search starts from the last step size tried.

    Defaults as optax (`slope_rtol=1e-4` is N&W's `c1`; `decrease_factor=0.8`; N&W use 0.5).
    `d` must be a descent direction (`<grad, d> < 0`), which gradient descent without momentum
    and the quasi-Newton methods give. Needs `params`, `value`, `grad`, `value_fn` (see module).
    `store_grad=True` also evaluates and stores the gradient at the accepted point.
    """
    validate.positive_int("max_backtracking_steps", max_backtracking_steps)
    validate.in_range("slope_rtol", slope_rtol, 0.0, 1.0, low_open=True, high_open=True)
    validate.in_range("decrease_factor", decrease_factor, 0.0, 1.0, low_open=True, high_open=True)
    _check_increase(increase_factor)
    validate.positive("max_learning_rate", max_learning_rate)

    def init(params):
        dtype = value_dtype(params)
        return ScaleByBacktrackingLinesearchState(
            count=step_counter(),
            learning_rate=jnp.asarray(max_learning_rate, dtype),
            value=jnp.asarray(jnp.inf, dtype),
            grad=tree_zeros_like(params) if store_grad else None,
            num_linesearch_steps=jnp.zeros([], jnp.int32),
            success=jnp.array(True),
        )

    def update(updates, state, params=None, *, value=None, grad=None, value_fn=None, **extra):
        dtype = state.learning_rate.dtype
        fn, value, slope = _start(
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
            return jnp.isfinite(new_value) & (new_value <= value + slope_rtol * alpha * slope)

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


# ----------------------------------------------------------------------------------------------
# zoom (strong Wolfe)
# ----------------------------------------------------------------------------------------------


class ScaleByZoomLinesearchState(NamedTuple):
    """State of `scale_by_zoom_linesearch`.

    `learning_rate` is the accepted step size (0 after a failed search), `value` and `grad` are
    f and its gradient at the new params, `success` says whether both strong Wolfe conditions
    held, `num_linesearch_steps` counts the function evaluations of the last search.
    """

    count: jax.Array
    learning_rate: jax.Array
    value: jax.Array
    grad: Any
    num_linesearch_steps: jax.Array
    success: jax.Array


class _Zoom(NamedTuple):
    """The loop state of the zoom search; `stage` is 0 bracketing, 1 zooming, 2 done."""

    i: jax.Array
    stage: jax.Array
    trial: jax.Array
    a_prev: jax.Array
    f_prev: jax.Array
    s_prev: jax.Array
    a_lo: jax.Array
    f_lo: jax.Array
    s_lo: jax.Array
    a_hi: jax.Array
    f_hi: jax.Array
    s_hi: jax.Array
    best_a: jax.Array
    best_f: jax.Array
    best_g: Any
    success: jax.Array


def _cubic_min(a, fa, sa, b, fb, sb):
    """The minimizer of the cubic interpolating (a, fa, sa), (b, fb, sb) (N&W eq. 3.59)."""
    d1 = sa + sb - 3.0 * (fa - fb) / (a - b)
    d2 = jnp.sign(b - a) * jnp.sqrt(jnp.maximum(d1 * d1 - sa * sb, 0.0))
    valid = d1 * d1 - sa * sb >= 0.0
    x = b - (b - a) * (sb + d2 - d1) / (sb - sa + 2.0 * d2)
    return jnp.where(valid, x, jnp.nan)


def _quadratic_min(a, fa, sa, b, fb):
    """The minimizer of the quadratic through (a, fa) with slope sa and through (b, fb)."""
    h = b - a
    curvature = (fb - fa - sa * h) / (h * h)
    return jnp.where(curvature > 0, a - sa / (2.0 * curvature), jnp.nan)


def _interpolate(z: _Zoom) -> jax.Array:
    """The next trial inside [lo, hi]: cubic, else quadratic, else bisection (safeguarded).

    Safeguards as scipy's zoom: the cubic point must lie 20% inside the interval, the
    quadratic one 10%; otherwise bisect.
    """
    lo, hi = z.a_lo, z.a_hi
    left, right = jnp.minimum(lo, hi), jnp.maximum(lo, hi)
    width = right - left

    def inside(x, margin):
        return jnp.isfinite(x) & (x > left + margin * width) & (x < right - margin * width)

    cubic = _cubic_min(lo, z.f_lo, z.s_lo, hi, z.f_hi, z.s_hi)
    quad = _quadratic_min(lo, z.f_lo, z.s_lo, hi, z.f_hi)
    mid = 0.5 * (lo + hi)
    return jnp.where(inside(cubic, 0.2), cubic, jnp.where(inside(quad, 0.1), quad, mid))


def scale_by_zoom_linesearch(
    max_linesearch_steps: int = 30,
    max_learning_rate: float | None = None,
    increase_factor: float = 2.0,
    slope_rtol: float = 1e-4,
    curv_rtol: float = 0.9,
    stepsize_precision: float = 1e-10,
    initial_guess_strategy: str = "keep",
    approx_dec_rtol: float | None = 1e-6,
) -> GradientTransformation:
    """Line search for the strong Wolfe conditions (Nocedal & Wright, Algorithms 3.5 and 3.6).

    Finds `alpha > 0` with (N&W eq. 3.7, `c1 = slope_rtol`, `c2 = curv_rtol`, 0 < c1 < c2 < 1)

        phi(alpha)        <= phi(0) + c1 alpha phi'(0)      (sufficient decrease)
        |phi'(alpha)|     <= c2 |phi'(0)|                   (curvature)

    where `phi(alpha) = f(params + alpha d)`. Algorithm 3.5 brackets: from the first trial it
    multiplies the step by `increase_factor` (capped at `max_learning_rate`) until a trial fails
    sufficient decrease, stops decreasing, or has a non-negative slope; Algorithm 3.6 then zooms
    into the bracket, each trial the minimizer of the cubic through the bracket's ends (N&W eq.
    3.59), falling back to a quadratic and to bisection (scipy's safeguards). Each trial costs
    one value-and-gradient evaluation; at most `max_linesearch_steps` in all.

    The first trial is 1 (`initial_guess_strategy="one"`, right for Newton and quasi-Newton
    directions whose natural step is 1, N&W sec. 3.5) or the previous accepted step
    (`"keep"`, for gradient descent). If the search runs out of trials, or the bracket shrinks
    below `stepsize_precision` relative to the step, it returns the trial with the lowest value
    among those that satisfied sufficient decrease, or a step of 0 if none did (`success` is
    False either way); a direction that is not a descent direction gives a step of 0 at once.
    Defaults: c1 = 1e-4 and c2 = 0.9 as N&W recommend for (quasi-)Newton methods, and optax.
    The value and gradient at the new params are kept in the state (`value`, `grad`).
    """
    validate.positive_int("max_linesearch_steps", max_linesearch_steps)
    if max_learning_rate is not None:
        validate.positive("max_learning_rate", max_learning_rate)
    _check_increase(increase_factor)
    validate.in_range("slope_rtol", slope_rtol, 0.0, 1.0, low_open=True, high_open=True)
    validate.in_range("curv_rtol", curv_rtol, 0.0, 1.0, low_open=True, high_open=True)
    # Schedules and traced values (inject_hyperparams) cannot be compared when built.
    known = not any(callable(v) or isinstance(v, jax.core.Tracer) for v in (slope_rtol, curv_rtol))
    if known and slope_rtol >= curv_rtol:
        raise ValueError(
            f"slope_rtol must be smaller than curv_rtol (N&W: 0 < c1 < c2 < 1), got "
            f"slope_rtol={slope_rtol!r}, curv_rtol={curv_rtol!r}"
        )
    validate.non_negative("stepsize_precision", stepsize_precision)
    if approx_dec_rtol is not None:
        validate.non_negative("approx_dec_rtol", approx_dec_rtol)
    if initial_guess_strategy not in ("one", "keep"):
        raise ValueError(
            f"initial_guess_strategy must be 'one' or 'keep', got {initial_guess_strategy!r}"
        )
    alpha_max = math.inf if max_learning_rate is None else float(max_learning_rate)

    def init(params):
        dtype = value_dtype(params)
        return ScaleByZoomLinesearchState(
            count=step_counter(),
            learning_rate=jnp.asarray(1.0, dtype),
            value=jnp.asarray(jnp.inf, dtype),
            grad=tree_zeros_like(params),
            num_linesearch_steps=jnp.zeros([], jnp.int32),
            success=jnp.array(True),
        )

    def update(updates, state, params=None, *, value=None, grad=None, value_fn=None, **extra):
        dtype = state.learning_rate.dtype
        fn, f0, s0 = _start(
            "scale_by_zoom_linesearch", updates, params, value, grad, value_fn, extra, dtype
        )
        grad = tree_cast_like(grad, params)

        def evaluate(alpha):
            new_value, new_grad = jax.value_and_grad(lambda p: jnp.asarray(fn(p)))(
                tree_add_scaled(params, alpha, updates)
            )
            new_value = jnp.asarray(new_value).astype(dtype)
            slope = tree_vdot(new_grad, updates).astype(dtype)
            # Non-finite values fail sufficient decrease; the zoom then shrinks towards lo.
            new_value = jnp.where(jnp.isfinite(new_value), new_value, jnp.inf)
            slope = jnp.where(jnp.isfinite(slope), slope, jnp.inf)
            return new_value, slope, tree_cast_like(new_grad, params)

        if initial_guess_strategy == "one":
            first = jnp.asarray(1.0, dtype)
        else:
            first = jnp.where(state.learning_rate > 0, state.learning_rate, 1.0).astype(dtype)
        first = jnp.minimum(first, alpha_max).astype(dtype)
        zero = jnp.zeros([], dtype)
        start = _Zoom(
            i=jnp.zeros([], jnp.int32),
            # Not a descent direction (or a non-finite start): no step size can help.
            stage=jnp.where((s0 < 0) & jnp.isfinite(f0), 0, 2).astype(jnp.int32),
            trial=first,
            a_prev=zero, f_prev=f0, s_prev=s0,
            a_lo=zero, f_lo=f0, s_lo=s0,
            a_hi=zero, f_hi=f0, s_hi=s0,
            best_a=zero, best_f=f0, best_g=grad,
            success=jnp.array(False),
        )

        def cond(z: _Zoom):
            return (z.stage < 2) & (z.i < max_linesearch_steps)

        def body(z: _Zoom) -> _Zoom:
            a = z.trial
            f, s, g = evaluate(a)
            sufficient = f <= f0 + slope_rtol * a * s0
            if approx_dec_rtol is not None:
                # Hager & Zhang's approximate Wolfe condition: near the optimum, where f can no
                # longer resolve the decrease, the slope (precise to eps, not sqrt(eps)) decides.
                approx = (f <= f0 + approx_dec_rtol * jnp.abs(f0)) & (
                    s <= (2.0 * slope_rtol - 1.0) * s0
                )
                sufficient = sufficient | approx
            curvature = jnp.abs(s) <= curv_rtol * jnp.abs(s0)
            wolfe = sufficient & curvature
            better = sufficient & (f < z.best_f)
            bracketing = z.stage == 0

            # Algorithm 3.5 (bracketing), its four cases: b_high -> zoom(a_prev, a); else wolfe
            # -> accept; else s >= 0 -> zoom(a, a_prev); else b_grow -> a larger trial.
            b_high = (~sufficient) | ((z.i > 0) & (f >= z.f_prev))
            b_grow = (~b_high) & (~curvature) & (s < 0)
            at_cap = a >= alpha_max
            # Algorithm 3.6 (zoom) on the trial a inside [lo, hi].
            z_high = (~sufficient) | (f >= z.f_lo)
            z_flip = (~z_high) & (~curvature) & (s * (z.a_hi - z.a_lo) >= 0)
            here, prev = (a, f, s), (z.a_prev, z.f_prev, z.s_prev)
            lo, hi = (z.a_lo, z.f_lo, z.s_lo), (z.a_hi, z.f_hi, z.s_hi)

            # Bracketing: zoom(a_prev, a) after b_high, zoom(a, a_prev) after b_turn.
            lo_b = [jnp.where(b_high, x, y) for x, y in zip(prev, here, strict=True)]
            hi_b = [jnp.where(b_high, y, x) for x, y in zip(prev, here, strict=True)]
            # Zoom: hi <- a after z_high; otherwise lo <- a, and hi <- old lo after z_flip.
            lo_z = [jnp.where(z_high, x, y) for x, y in zip(lo, here, strict=True)]
            hi_z = [
                jnp.where(z_high, y, jnp.where(z_flip, x, h))
                for x, y, h in zip(lo, here, hi, strict=True)
            ]
            grow = bracketing & b_grow
            new_lo = [jnp.where(bracketing, x, y) for x, y in zip(lo_b, lo_z, strict=True)]
            new_hi = [jnp.where(bracketing, x, y) for x, y in zip(hi_b, hi_z, strict=True)]
            accept = wolfe | (grow & at_cap)
            tiny = jnp.abs(new_hi[0] - new_lo[0]) <= stepsize_precision * jnp.maximum(
                new_lo[0], new_hi[0]
            )
            stage = jnp.where(accept, 2, jnp.where(grow, 0, jnp.where(tiny, 2, 1)))
            keep = accept | better
            new = z._replace(
                i=z.i + 1,
                stage=stage.astype(jnp.int32),
                a_prev=jnp.where(grow, a, z.a_prev),
                f_prev=jnp.where(grow, f, z.f_prev),
                s_prev=jnp.where(grow, s, z.s_prev),
                a_lo=new_lo[0], f_lo=new_lo[1], s_lo=new_lo[2],
                a_hi=new_hi[0], f_hi=new_hi[1], s_hi=new_hi[2],
                best_a=jnp.where(keep, a, z.best_a),
                best_f=jnp.where(keep, f, z.best_f),
                best_g=tree_where(keep, g, z.best_g),
                success=wolfe,
            )
            grown = jnp.minimum(a * increase_factor, alpha_max).astype(dtype)
            trial = jnp.where(grow, grown, _interpolate(new)).astype(dtype)
            return new._replace(trial=trial)

        z = jax.lax.while_loop(cond, body, start)
        step = z.best_a
        new_state = ScaleByZoomLinesearchState(
            count=safe_increment(state.count),
            learning_rate=step,
            value=z.best_f,
            grad=z.best_g,
            num_linesearch_steps=z.i,
            success=z.success,
        )
        return tree_cast_like(tree_scale(step, updates), updates), new_state

    return GradientTransformation(init, update)
