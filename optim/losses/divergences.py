"""Divergences between distributions under optax's names, one value per example (summed along
`axis`), the predictions always given as log-probabilities.

    kl_divergence(log_p, q)                   sum q (log q - log p), with 0 log 0 = 0
    kl_divergence_with_log_targets(log_p, log_q)   sum e^{log q} (log q - log p)
    generalized_kl_divergence(log_p, q)       sum q (log q - log p) + p - q, for unnormalized
                                              p and q (convex in p; Lee & Seung 2001)
    convex_kl_divergence                      optax's older name of the generalized one
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from optim.losses.inputs import as_floating, same_shape

Axis = int | tuple[int, ...] | None


def _pair(log_predictions: ArrayLike, targets: ArrayLike, name: str) -> tuple:
    log_predictions = as_floating("log_predictions", log_predictions)
    targets = as_floating(name, targets)
    same_shape("log_predictions", log_predictions, name, targets)
    return log_predictions, targets


def kl_divergence(
    log_predictions: ArrayLike, targets: ArrayLike, axis: Axis = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    """`KL(q || p) = sum_j q_j (log q_j - log p_j)` along `axis`, `log_predictions = log p`
    and `targets = q` (probabilities). A target of 0 contributes 0 (the limit of `q log q`),
    with a finite gradient."""
    log_p, q = _pair(log_predictions, targets, "targets")
    zero = q == 0
    log_q = jnp.where(zero, 0.0, jnp.log(jnp.where(zero, 1.0, q)))
    return jnp.sum(q * (log_q - log_p), axis=axis, where=where)


def kl_divergence_with_log_targets(
    log_predictions: ArrayLike, log_targets: ArrayLike, axis: Axis = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    """`KL(q || p)` from both logarithms: `sum_j e^{log q_j} (log q_j - log p_j)`."""
    log_p, log_q = _pair(log_predictions, log_targets, "log_targets")
    return jnp.sum(jnp.exp(log_q) * (log_q - log_p), axis=axis, where=where)


def generalized_kl_divergence(
    log_predictions: ArrayLike, targets: ArrayLike, axis: Axis = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    """The generalized KL divergence `sum_j q_j (log q_j - log p_j) + p_j - q_j` of
    non-negative measures that need not sum to 1 (Lee & Seung 2001); it is the KL divergence
    when both sum to 1."""
    log_p, q = _pair(log_predictions, targets, "targets")
    mass = jnp.sum(jnp.exp(log_p) - q, axis=axis, where=where)
    return kl_divergence(log_p, q, axis=axis, where=where) + mass


def convex_kl_divergence(
    log_predictions: ArrayLike, targets: ArrayLike, axis: Axis = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    """optax's former name of `generalized_kl_divergence` (the same function)."""
    return generalized_kl_divergence(log_predictions, targets, axis=axis, where=where)
