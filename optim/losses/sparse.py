"""Fenchel-Young losses and the sparsemax losses under optax's names, one value per example.

    make_fenchel_young_loss(max_fun)   (s, y) -> max_fun(s) - <y, s>   (Blondel et al. 2020)
    sparsemax_loss(x, y)               the binary sparsemax loss, sparse_plus(x or -x)
    multiclass_sparsemax_loss(s, k)    <p, s> - ||p||^2 / 2 + 1/2 - s_k, p = sparsemax(s)
                                       (Martins & Astudillo 2016)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from optim.losses.inputs import as_integer, labels_in_range


def make_fenchel_young_loss(max_fun: Callable[..., ArrayLike]) -> Callable[..., jax.Array]:
    """The Fenchel-Young loss of a regularized max (Blondel, Martins & Niculae 2020):
    `loss(scores, targets, *args, **kwargs) = max_fun(scores, ...) - <targets, scores>`,
    both along the last axis, one value per example. With `max_fun = logsumexp` it is the
    softmax cross-entropy; the gradient in `scores` is `argmax_fun(scores) - targets`.
    `max_fun` maps a vector to a scalar."""
    if not callable(max_fun):
        raise TypeError(f"max_fun must be a function vector -> scalar, got {max_fun!r}")
    regularized_max = jnp.vectorize(max_fun, signature="(n)->()")
    inner = jnp.vectorize(jnp.vdot, signature="(n),(n)->()")

    def fenchel_young_loss(scores: ArrayLike, targets: ArrayLike, *args: Any,
                           **kwargs: Any) -> jax.Array:
        return regularized_max(scores, *args, **kwargs) - inner(targets, scores)

    return fenchel_young_loss


def sparsemax_loss(logits: ArrayLike, labels: ArrayLike) -> jax.Array:
    """The binary sparsemax loss per entry: `sparse_plus(-x)` for a label 1 and
    `sparse_plus(x)` for a label 0, where `sparse_plus(z)` is 0 below -1, `(z + 1)**2 / 4` on
    [-1, 1] and `z` above (the Fenchel-Young loss of the binary sparsemax, Blondel et al.
    2020): exactly zero once the logit is on the right side by 1."""
    logits = jnp.asarray(logits)
    labels = jnp.asarray(labels)
    logits, labels = jnp.broadcast_arrays(logits, labels)
    return jax.nn.sparse_plus(jnp.where(labels, -logits, logits))


def sparsemax(scores: jax.Array) -> jax.Array:
    """The Euclidean projection of each last-axis vector onto the probability simplex
    (Held et al. 1974; Martins & Astudillo 2016): `max(s - tau, 0)` with the threshold `tau`
    found from the sorted scores."""
    ordered = jnp.flip(jnp.sort(scores, axis=-1), axis=-1)
    ranks = jnp.broadcast_to(jnp.arange(1, scores.shape[-1] + 1, dtype=scores.dtype),
                             scores.shape)
    cumulative = jnp.cumsum(ordered, axis=-1) - 1
    support = jnp.sum(ordered * ranks > cumulative, axis=-1, keepdims=True)
    tau = jnp.take_along_axis(cumulative, support - 1, axis=-1) / support.astype(scores.dtype)
    return jnp.maximum(scores - tau, 0)


def multiclass_sparsemax_loss(scores: ArrayLike, labels: ArrayLike) -> jax.Array:
    """The sparsemax loss (Martins & Astudillo 2016) of each example, integer `labels`:
    `<p, s> - ||p||^2 / 2 + 1/2 - s_k` with `p = sparsemax(s)`; it is 0 when the true class
    leads the others by 1 and its gradient is `p - one_hot(k)`. Concrete labels outside
    [0, num_classes) raise."""
    scores = jnp.asarray(scores)
    labels = as_integer("labels", labels)
    if scores.ndim < 1 or labels.shape != scores.shape[:-1]:
        raise ValueError(
            f"labels must have the shape of scores without its last (class) axis, got scores "
            f"{scores.shape} and labels {labels.shape}"
        )
    labels_in_range("labels", labels, scores.shape[-1])
    probs = sparsemax(scores)
    true_score = jnp.take_along_axis(scores, labels[..., None], axis=-1)[..., 0]
    return (jnp.sum(probs * scores, axis=-1) - 0.5 * jnp.sum(jnp.square(probs), axis=-1)
            + 0.5 - true_score)
