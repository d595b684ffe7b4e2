"""The learning rate from curvature: the lectures' optimal rate and regimes, the LR range test.

The lectures' analysis of gradient descent on a quadratic: with `lambda_max` the largest
eigenvalue of the Hessian, the learning rate `eta_opt = 1 / lambda_max` is optimal along the
stiffest direction, and gradient descent

- converges monotonically for `eta < eta_opt`,
- converges with oscillations for `eta_opt < eta < 2 eta_opt`,
- diverges for `eta > 2 eta_opt`

(each coordinate along an eigenvector is multiplied by `1 - eta lambda` per step).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from _descent import validation
from _descent.dtypes import scalar_dtype
from optim._core.base import Params
from optim._core.combine import call_update
from optim.analysis.curvature import top_hessian_eigenvalue


def optimal_learning_rate(fun: Callable, params: Params, **kwargs: Any) -> jax.Array:
    """`eta_opt = 1 / lambda_max`: the lectures' optimal learning rate of gradient descent on a
    quadratic (exact there; a local estimate elsewhere). Keywords go to
    `top_hessian_eigenvalue`."""
    return 1.0 / top_hessian_eigenvalue(fun, params, **kwargs)


def learning_rate_regime(learning_rate: float, lambda_max: float) -> str:
    """Gradient descent's behaviour on a quadratic with top curvature `lambda_max`.

    With `r = learning_rate * lambda_max` (the lectures' `eta / eta_opt`): `"monotone"` for
    r < 1, `"optimal"` for r = 1 (one step along the stiffest direction), `"oscillating"` for
    1 < r < 2 (converges, alternating sign), `"periodic"` for r = 2 (oscillates forever) and
    `"divergent"` for r > 2.
    """
    validation.positive("learning_rate", learning_rate)
    validation.positive("lambda_max", lambda_max)
    r = float(learning_rate) * float(lambda_max)
    if math.isclose(r, 1.0, rel_tol=1e-12):
        return "optimal"
    if math.isclose(r, 2.0, rel_tol=1e-12):
        return "periodic"
    if r < 1.0:
        return "monotone"
    return "oscillating" if r < 2.0 else "divergent"


class LRRangeResult(NamedTuple):
    """The curve of an LR range test: loss (raw and smoothed) at each learning rate tried,
    the suggested learning rate (steepest descent of the smoothed loss against log lr), the
    learning rate of the lowest smoothed loss, and whether the loss blew up (the test stops)."""

    learning_rates: np.ndarray
    losses: np.ndarray
    smoothed_losses: np.ndarray
    suggested_learning_rate: float
    min_loss_learning_rate: float
    diverged: bool


def lr_range_test(
    loss_fn: Callable[..., Any],
    params: Params,
    optimizer_factory: Callable[[Any], Any],
    batches: Iterable[Any] | None = None,
    *,
    min_lr: float = 1e-7,
    max_lr: float = 10.0,
    num_steps: int = 100,
    smoothing: float | None = None,
    diverge_factor: float = 4.0,
) -> LRRangeResult:
    """The learning-rate range test (Smith 2017, "Cyclical learning rates", sec. 3.3).

    Train from `params` for `num_steps` steps while the learning rate grows exponentially from
    `min_lr` to `max_lr` (`lr_t = min_lr (max_lr / min_lr)^(t / (num_steps - 1))`), recording
    the loss before each step. `optimizer_factory(learning_rate)` builds the optimizer (e.g.
    `optim.sgd` or `lambda lr: optim.adam(lr, b1=0.9)`); it is called with a traced scalar
    inside one jitted step, so the run compiles once. `loss_fn(params, batch)` is evaluated on
    successive items of `batches` (cycled if shorter than `num_steps`), or `loss_fn(params)`
    when `batches` is None.

    The losses are smoothed by a debiased exponential moving average (`smoothing`, default 0.9
    with batches, 0 for a fixed loss), and the test stops once the smoothed loss exceeds
    `diverge_factor` times its minimum or is not finite. The suggestion is the learning rate
    where the smoothed loss falls fastest against log(lr), before its minimum (fastai's
    "steepest" rule); Smith suggests a range up to where the loss starts to rise.
    """
    validation.positive("min_lr", min_lr)
    validation.in_range("max_lr", max_lr, float(min_lr), low_open=True)
    validation.integer("num_steps", num_steps, 1)
    if num_steps < 2:
        raise ValueError(f"num_steps must be at least 2, got {num_steps}")
    validation.in_range("diverge_factor", diverge_factor, 1.0, low_open=True)
    if smoothing is None:
        smoothing = 0.0 if batches is None else 0.9
    validation.decay_rate("smoothing", smoothing)

    learning_rates = min_lr * (max_lr / min_lr) ** (np.arange(num_steps) / (num_steps - 1))
    has_batches = batches is not None
    state = optimizer_factory(float(min_lr)).init(params)

    @jax.jit
    def train_step(params, state, learning_rate, batch):
        tx = optimizer_factory(learning_rate)
        args = (batch,) if has_batches else ()
        loss, grads = jax.value_and_grad(loss_fn)(params, *args)
        updates, state = call_update(
            tx, grads, state, params,
            {"value": loss, "grad": grads, "value_fn": lambda p: loss_fn(p, *args)},
        )
        new_params = jax.tree.map(
            lambda p, u: (p + u).astype(jnp.result_type(p)), params, updates
        )
        return new_params, state, loss

    stream = itertools.cycle(batches) if has_batches else itertools.repeat(None)
    losses, smoothed = [], []
    average, best, diverged = 0.0, math.inf, False
    for t, (lr, batch) in enumerate(zip(learning_rates, stream, strict=False)):
        lr_array = jnp.asarray(lr, scalar_dtype(params))
        params, state, loss = train_step(params, state, lr_array, batch)
        loss = float(loss)
        losses.append(loss)
        average = smoothing * average + (1.0 - smoothing) * loss
        value = average / (1.0 - smoothing ** (t + 1))
        smoothed.append(value)
        best = min(best, value)
        if not math.isfinite(value) or value > diverge_factor * best:
            diverged = True
            break

    tried = learning_rates[: len(losses)]
    curve = np.asarray(smoothed)
    finite = np.isfinite(curve)
    lowest = int(np.argmin(np.where(finite, curve, np.inf)))
    if lowest >= 1:
        slopes = np.gradient(curve[: lowest + 1], np.log(tried[: lowest + 1]))
        steepest = int(np.argmin(slopes))
    else:
        steepest = 0
    return LRRangeResult(
        learning_rates=tried,
        losses=np.asarray(losses),
        smoothed_losses=curve,
        suggested_learning_rate=float(tried[steepest]),
        min_loss_learning_rate=float(tried[lowest]),
        diverged=diverged,
    )
