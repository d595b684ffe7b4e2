"""Regression losses under optax's names: one value per entry (or per example for the cosine
losses), never a mean over the batch.

    squared_error(p, t)        (p - t)**2
    l2_loss(p, t)              0.5 (p - t)**2
    huber_loss(p, t, delta)    0.5 e**2 where |e| <= delta, delta (|e| - 0.5 delta) beyond
                               (Huber 1964), e = p - t
    log_cosh(p, t)             log(cosh(e)), computed as logaddexp(e, -e) - log 2 (no overflow)
    cosine_similarity(p, t)    <p, t> / (||p|| ||t||) along `axis`
    cosine_distance(p, t)      1 - cosine_similarity

`targets=None` means targets of zero (the error is the predictions themselves), as in optax.
Shapes of predictions and targets must agree (a ValueError names both).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from optim.losses.inputs import as_floating, hyperparameter, same_shape


def _errors(predictions: ArrayLike, targets: ArrayLike | None) -> jax.Array:
    predictions = as_floating("predictions", predictions)
    if targets is None:
        return predictions
    targets = jnp.asarray(targets)
    same_shape("predictions", predictions, "targets", targets)
    return predictions - targets


def squared_error(predictions: ArrayLike, targets: ArrayLike | None = None) -> jax.Array:
    """`(predictions - targets)**2`, entry by entry."""
    return jnp.square(_errors(predictions, targets))


def l2_loss(predictions: ArrayLike, targets: ArrayLike | None = None) -> jax.Array:
    """`0.5 (predictions - targets)**2`, entry by entry (the 0.5 makes the gradient the
    error itself)."""
    return 0.5 * squared_error(predictions, targets)


def huber_loss(
    predictions: ArrayLike, targets: ArrayLike | None = None, *, delta: ArrayLike = 1.0
) -> jax.Array:
    """Huber's loss (Huber 1964), entry by entry, with `e = predictions - targets`:
    `0.5 e**2` where `|e| <= delta`, `delta (|e| - 0.5 delta)` beyond; quadratic near 0,
    linear in the tails, its gradient `clip(e, -delta, delta)`.

    `delta` must be positive (checked when it is a number; a traced `delta` is not).
    """
    hyperparameter("delta", delta, 0.0, low_open=True)
    magnitude = jnp.abs(_errors(predictions, targets))
    inside = jnp.minimum(magnitude, delta)
    return 0.5 * jnp.square(inside) + delta * (magnitude - inside)


def log_cosh(predictions: ArrayLike, targets: ArrayLike | None = None) -> jax.Array:
    """`log(cosh(e))` with `e = predictions - targets`, entry by entry: about `e**2 / 2` near 0
    and `|e| - log 2` far away. Written `logaddexp(e, -e) - log 2`, finite for any finite `e`
    (`cosh` itself overflows past |e| = 89 in float32)."""
    errors = _errors(predictions, targets)
    return jnp.logaddexp(errors, -errors) - jnp.log(2.0).astype(errors.dtype)


def cosine_similarity(
    predictions: ArrayLike,
    targets: ArrayLike,
    *,
    epsilon: ArrayLike = 0.0,
    axis: int | tuple[int, ...] | None = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    """`<p, t> / (||p|| ||t||)` along `axis` (one value per example), each squared norm
    floored at `epsilon` first, so that with `epsilon > 0` a zero vector gives 0, not NaN.
    `where` masks entries out of the sums."""
    hyperparameter("epsilon", epsilon, 0.0)
    a = as_floating("predictions", predictions)
    b = as_floating("targets", targets)
    same_shape("predictions", a, "targets", b)
    a_norm = jnp.sqrt(jnp.sum(jnp.square(a), axis=axis, where=where, keepdims=True).clip(epsilon))
    b_norm = jnp.sqrt(jnp.sum(jnp.square(b), axis=axis, where=where, keepdims=True).clip(epsilon))
    return jnp.sum((a / a_norm) * (b / b_norm), axis=axis, where=where)


def cosine_distance(
    predictions: ArrayLike,
    targets: ArrayLike,
    *,
    epsilon: ArrayLike = 0.0,
    axis: int | tuple[int, ...] | None = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    """`1 - cosine_similarity(predictions, targets)`: 0 for vectors pointing the same way,
    2 for opposite ones."""
    return 1.0 - cosine_similarity(predictions, targets, epsilon=epsilon, axis=axis, where=where)
