"""Ranking and contrastive losses under optax's names.

    ranking_softmax_loss(x, y)   -sum_j y_j log softmax(x)_j per list of items, then
                                 `reduce_fn` over the lists (mean by default, as optax)
    ntxent(z, labels, t)         the normalized-temperature cross-entropy of SimCLR (Chen et al.
                                 2020), averaged over the positive pairs: one scalar
    triplet_margin_loss(a, p, n) max(||a - p|| - ||a - n|| + margin, 0) per example
                                 (Schroff et al. 2015)

These are the losses of optax.losses whose natural result is one value per list or per batch;
each says which.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from optim.losses.inputs import as_floating, hyperparameter, same_shape


def ranking_softmax_loss(
    logits: ArrayLike, labels: ArrayLike, *, where: ArrayLike | None = None,
    weights: ArrayLike | None = None,
    reduce_fn: Callable[..., ArrayLike] | None = jnp.mean,
) -> jax.Array:
    """The listwise softmax loss (Cao et al. 2007; Bruch et al. 2019): for each list (the
    last axis holds its items' scores), `-sum_j y_j log softmax(x)_j` over the items `where`
    allows, the relevance labels `y` multiplied by `weights` when given. The per-list losses
    are reduced by `reduce_fn` (`jnp.mean` by default, as optax; `None` keeps one per list,
    0 for a list with no valid item). A mean over lists none of which is valid is 0, not
    NaN."""
    logits = as_floating("logits", logits)
    labels = jnp.asarray(labels)
    same_shape("logits", logits, "labels", labels)
    labels = labels.astype(logits.dtype)
    if where is not None:
        where = jnp.asarray(where)
        same_shape("logits", logits, "where", where)
        labels = jnp.where(where, labels, 0.0)
        logits = jnp.where(where, logits, -jnp.inf)
    if weights is not None:
        labels = labels * jnp.broadcast_to(jnp.asarray(weights), labels.shape)
    log_probs = jax.nn.log_softmax(logits, axis=-1)
    loss = -jnp.sum(labels * log_probs, axis=-1, where=where)
    valid = None if where is None else jnp.any(where, axis=-1)
    if reduce_fn is None:
        return loss if valid is None else jnp.where(valid, loss, 0.0)
    out = reduce_fn(loss, where=valid)
    if reduce_fn is jnp.mean:  # no valid list at all: 0, unless a loss itself is NaN
        out = jnp.where(jnp.isnan(out) & ~jnp.any(jnp.isnan(loss)), 0.0, out)
    return out


def ntxent(embeddings: ArrayLike, labels: ArrayLike, temperature: ArrayLike = 0.07) -> jax.Array:
    """NT-Xent (Chen et al. 2020, SimCLR): with `s_ij` the cosine similarity of embeddings
    `i` and `j` over `temperature`, each positive pair `(i, j)` (same label, `i != j`) costs
    `-log(e^{s_ij} / (e^{s_ij} + sum_{k: label_k != label_i} e^{s_ik}))`; the result is
    the mean over all positive pairs, one scalar for the batch (a contrastive loss has no
    per-example value: each example's term depends on the whole batch).

    `embeddings` is `[batch, dim]`, `labels` `[batch]` (same label: a positive pair);
    `temperature` must be positive.
    """
    hyperparameter("temperature", temperature, 0.0, low_open=True)
    z = as_floating("embeddings", embeddings)
    labels = jnp.asarray(labels)
    if z.ndim != 2 or labels.shape != z.shape[:1]:
        raise ValueError(
            f"embeddings must be [batch, dim] and labels [batch], got embeddings {z.shape} "
            f"and labels {labels.shape}"
        )
    norms = jnp.sqrt(jnp.sum(jnp.square(z), axis=-1, keepdims=True).clip(jnp.finfo(z.dtype).eps))
    unit = z / norms
    similarity = (unit @ unit.T) / temperature
    same = labels[:, None] == labels[None, :]
    positive = same & ~jnp.eye(z.shape[0], dtype=bool)
    negatives = jax.nn.logsumexp(jnp.where(same, -jnp.inf, similarity), axis=1, keepdims=True)
    log_ratio = similarity - jnp.logaddexp(similarity, negatives)
    return -jnp.sum(jnp.where(positive, log_ratio, 0.0)) / jnp.sum(positive)


def triplet_margin_loss(
    anchors: ArrayLike, positives: ArrayLike, negatives: ArrayLike, axis: int = -1,
    norm_degree: ArrayLike = 2, margin: ArrayLike = 1.0, eps: ArrayLike = 1e-6,
) -> jax.Array:
    """The triplet margin loss (Schroff et al. 2015, FaceNet) per example:
    `max(d(a, p) - d(a, n) + margin, 0)`, with `d(x, y) = (sum |x - y|**q + eps)**(1/q)` along
    `axis` and `q = norm_degree`.

    Convention: the differences are taken in absolute value, so that `d` is the q-norm for
    every `q`; optax raises the signed differences to the power `q`, the same for even `q`.
    `norm_degree` must be positive, `margin` and `eps` non-negative.
    """
    hyperparameter("norm_degree", norm_degree, 0.0, low_open=True)
    hyperparameter("margin", margin, 0.0)
    hyperparameter("eps", eps, 0.0)
    a = as_floating("anchors", anchors)
    p = as_floating("positives", positives)
    n = as_floating("negatives", negatives)
    same_shape("anchors", a, "positives", p)
    same_shape("anchors", a, "negatives", n)

    def distance(x, y):
        return jnp.power(jnp.sum(jnp.power(jnp.abs(x - y), norm_degree), axis) + eps,
                         1 / norm_degree)

    return jnp.maximum(distance(a, p) - distance(a, n) + margin, 0)
