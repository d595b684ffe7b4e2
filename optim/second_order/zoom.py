"""Line search for the strong Wolfe conditions (zoom, Nocedal & Wright Alg. 3.5/3.6), as a
transform.

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
    tree_vdot,
    tree_where,
    tree_zeros_like,
)


class ZoomLinesearchInfo(NamedTuple):
    """How the last zoom search ended, as optax's: the function evaluations it made, and by how
    much its last trial missed each strong Wolfe condition (0 when it held, inf for a
    non-finite value or before any search).

    `decrease_error = max(phi(a) - phi(0) - c1 a phi'(0), 0)` (with `approx_dec_rtol`, the
    smaller of that and Hager & Zhang's approximate condition's error), `curvature_error =
    max(|phi'(a)| - c2 |phi'(0)|, 0)`; a condition holds when its error is at most `tol`.
    """

    num_linesearch_steps: jax.Array
    decrease_error: jax.Array
    curvature_error: jax.Array


class ScaleByZoomLinesearchState(NamedTuple):
    """State of `scale_by_zoom_linesearch`.

    `learning_rate` is the accepted step size (0 after a failed search), `value` and `grad` are
    f and its gradient at the new params, `success` says whether both strong Wolfe conditions
    held, `num_linesearch_steps` counts the function evaluations of the last search, `info`
    is optax's `ZoomLinesearchInfo` of it.
    """

    count: jax.Array
    learning_rate: jax.Array
    value: jax.Array
    grad: Any
    num_linesearch_steps: jax.Array
    success: jax.Array
    info: ZoomLinesearchInfo


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
    decrease_error: jax.Array
    curvature_error: jax.Array


def _violation(error: jax.Array) -> jax.Array:
    """How much a condition `error <= 0` is violated: 0 when it holds, inf for NaN."""
    return jnp.where(jnp.isnan(error), jnp.inf, jnp.maximum(error, 0.0))


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
    tol: float = 0.0,
    increase_factor: float = 2.0,
    slope_rtol: float = 1e-4,
    curv_rtol: float = 0.9,
    approx_dec_rtol: float | None = 1e-6,
    stepsize_precision: float = 1e-10,
    initial_guess_strategy: str = "keep",
    verbose: bool = False,
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

    The arguments are in optax's order. `tol` (0, optax's) relaxes each condition by that
    much: sufficient decrease holds when `phi(alpha) - phi(0) - c1 alpha phi'(0) <= tol`,
    curvature when `|phi'(alpha)| - c2 |phi'(0)| <= tol`. `stepsize_precision` is relative to
    the step here (optax's, 1e-5, is an absolute width). `verbose` is accepted for optax's
    signature and prints nothing: printing from `update` would need a host callback; the
    state's `success` and `num_linesearch_steps` say how each search went.
    """
    validation.boolean("verbose", verbose)
    validation.non_negative("tol", tol)
    validation.integer("max_linesearch_steps", max_linesearch_steps, 1)
    if max_learning_rate is not None:
        validation.positive("max_learning_rate", max_learning_rate)
    check_increase_factor(increase_factor)
    validation.in_range("slope_rtol", slope_rtol, 0.0, 1.0, low_open=True, high_open=True)
    validation.in_range("curv_rtol", curv_rtol, 0.0, 1.0, low_open=True, high_open=True)
    # Schedules and traced values (inject_hyperparams) cannot be compared when built.
    known = not any(callable(v) or isinstance(v, jax.core.Tracer) for v in (slope_rtol, curv_rtol))
    if known and slope_rtol >= curv_rtol:
        raise ValueError(
            f"slope_rtol must be smaller than curv_rtol (N&W: 0 < c1 < c2 < 1), got "
            f"slope_rtol={slope_rtol!r}, curv_rtol={curv_rtol!r}"
        )
    validation.non_negative("stepsize_precision", stepsize_precision)
    if approx_dec_rtol is not None:
        validation.non_negative("approx_dec_rtol", approx_dec_rtol)
    if initial_guess_strategy not in ("one", "keep"):
        raise ValueError(
            f"initial_guess_strategy must be 'one' or 'keep', got {initial_guess_strategy!r}"
        )
    alpha_max = math.inf if max_learning_rate is None else float(max_learning_rate)

    def init(params):
        check_real(params, "scale_by_zoom_linesearch")
        dtype = scalar_dtype(params)
        return ScaleByZoomLinesearchState(
            count=step_counter(),
            learning_rate=jnp.asarray(1.0, dtype),
            value=jnp.asarray(jnp.inf, dtype),
            grad=tree_zeros_like(params),
            num_linesearch_steps=jnp.zeros([], jnp.int32),
            success=jnp.array(True),
            info=ZoomLinesearchInfo(
                num_linesearch_steps=jnp.zeros([], jnp.int32),
                decrease_error=jnp.asarray(jnp.inf, dtype),
                curvature_error=jnp.asarray(jnp.inf, dtype),
            ),
        )

    def update(updates, state, params=None, *, value=None, grad=None, value_fn=None, **extra):
        check_state(state, ScaleByZoomLinesearchState, "scale_by_zoom_linesearch")
        dtype = state.learning_rate.dtype
        fn, f0, s0 = start_search(
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
            decrease_error=jnp.asarray(jnp.inf, dtype),
            curvature_error=jnp.asarray(jnp.inf, dtype),
        )

        def cond(z: _Zoom):
            return (z.stage < 2) & (z.i < max_linesearch_steps)

        def body(z: _Zoom) -> _Zoom:
            a = z.trial
            f, s, g = evaluate(a)
            decrease_error = f - f0 - slope_rtol * a * s0
            if approx_dec_rtol is not None:
                # Hager & Zhang's approximate Wolfe condition: near the optimum, where f can no
                # longer resolve the decrease, the slope (precise to eps, not sqrt(eps)) decides.
                approx_error = jnp.maximum(
                    f - f0 - approx_dec_rtol * jnp.abs(f0), s - (2.0 * slope_rtol - 1.0) * s0
                )
                decrease_error = jnp.minimum(decrease_error, approx_error)
            curvature_error = jnp.abs(s) - curv_rtol * jnp.abs(s0)
            sufficient = decrease_error <= tol
            curvature = curvature_error <= tol
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
                decrease_error=_violation(decrease_error),
                curvature_error=_violation(curvature_error),
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
            info=ZoomLinesearchInfo(z.i, z.decrease_error, z.curvature_error),
        )
        return tree_cast_like(tree_scale(step, updates), updates), new_state

    return GradientTransformation(init, update)
