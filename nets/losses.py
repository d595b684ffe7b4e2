"""The losses of the lectures, each averaged over the batch (the empirical risk).

    R_emp = 1/n sum_i L(y_i, f(x_i))

The batch is the leading axis; a loss with several outputs per example sums them (a vector
output's L2 loss is 1/2 ||y - f||^2), then averages over the batch. Classification losses take
logits (pre-activation outputs) and are computed in a form that stays finite for any finite
logits, +-1000 included: never `log(sigmoid(z))` or `log(softmax(z))` written naively.

Labels for the multiclass losses are integer class indices of shape `(batch,)` or one-hot (or
any probability) rows of shape `(batch, classes)`; the dtype decides (integer = indices). Each
loss says what it takes in a `targets` attribute ("classes", "binary" or "real"), which
`nets.fit` reads to check the data before training (labels in range, probabilities in [0, 1]).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike


def _matched(predictions: ArrayLike, targets: ArrayLike, name: str) -> tuple[jax.Array, ...]:
    """Predictions and targets of one shape; a trailing unit axis of predictions is allowed.

    Without this check a `(n, 1)` output against `(n,)` targets broadcasts to `(n, n)`, a
    silent and common mistake.
    """
    f, y = jnp.asarray(predictions), jnp.asarray(targets)
    if f.shape == y.shape + (1,):
        y = y[..., None]
    if f.shape != y.shape:
        raise ValueError(
            f"{name}: predictions of shape {f.shape} do not match targets of shape {y.shape}"
        )
    if f.ndim == 0:
        raise ValueError(f"{name} needs a batch axis; got scalar predictions")
    return f, y


def _batch_mean(per_entry: jax.Array) -> jax.Array:
    """Sum over the non-batch axes, mean over the batch axis."""
    per_example = jnp.sum(per_entry.reshape(per_entry.shape[0], -1), axis=1)
    return jnp.mean(per_example)


def l2_loss(predictions: ArrayLike, targets: ArrayLike) -> jax.Array:
    """`mean_i 1/2 ||y_i - f_i||^2`: the lectures' regression loss."""
    f, y = _matched(predictions, targets, "l2_loss")
    return _batch_mean(0.5 * jnp.square(y - f))


def binary_cross_entropy(logits: ArrayLike, labels: ArrayLike) -> jax.Array:
    """`mean_i -(y log p + (1 - y) log(1 - p))` with `p = sigmoid(z)`, from logits `z`.

    Computed as `max(z, 0) - z y + log(1 + exp(-|z|))`, exact and finite for all finite `z`.
    Labels are 0/1 (or probabilities), of the logits' shape or without their trailing unit axis.
    """
    z, y = _matched(logits, labels, "binary_cross_entropy")
    y = y.astype(z.dtype)
    per_entry = jnp.maximum(z, 0) - z * y + jnp.log1p(jnp.exp(-jnp.abs(z)))
    return _batch_mean(per_entry)


def _one_hot_like(logits: jax.Array, labels: ArrayLike, name: str) -> jax.Array:
    labels = jnp.asarray(labels)
    if jnp.issubdtype(labels.dtype, jnp.integer) or labels.dtype == jnp.bool_:
        if labels.shape != logits.shape[:-1]:
            raise ValueError(
                f"{name}: integer labels of shape {labels.shape} do not match logits of shape "
                f"{logits.shape} (expected labels of shape {logits.shape[:-1]})"
            )
        return jax.nn.one_hot(labels, logits.shape[-1], dtype=logits.dtype)
    if labels.shape != logits.shape:
        raise ValueError(
            f"{name}: one-hot labels of shape {labels.shape} do not match logits of shape "
            f"{logits.shape}"
        )
    return labels.astype(logits.dtype)


def softmax_cross_entropy(logits: ArrayLike, labels: ArrayLike) -> jax.Array:
    """`mean_i -sum_c y_ic log softmax(z_i)_c`, with the log-sum-exp trick.

    `log softmax(z)_c = z_c - max(z) - log sum_k exp(z_k - max(z))`, finite for finite logits.
    Integer labels `(batch,)` or one-hot/probability rows `(batch, classes)`.
    """
    z = jnp.asarray(logits)
    if z.ndim < 2:
        raise ValueError(f"softmax_cross_entropy needs logits (batch, classes), got {z.shape}")
    y = _one_hot_like(z, labels, "softmax_cross_entropy")
    log_p = jax.nn.log_softmax(z, axis=-1)
    # where(): a zero label times a -inf log-probability (underflow in low precision) is 0.
    return _batch_mean(-jnp.where(y == 0, 0, y * log_p))


def multiclass_hinge(logits: ArrayLike, labels: ArrayLike, margin: float = 1.0) -> jax.Array:
    """`mean_i sum_{j != y_i} max(0, s_j - s_{y_i} + margin)`: the multiclass SVM loss.

    The Weston-Watkins form shown in the lectures (margin 1). Labels as for
    `softmax_cross_entropy` (one-hot rows pick the class by argmax).
    """
    s = jnp.asarray(logits)
    if s.ndim < 2:
        raise ValueError(f"multiclass_hinge needs scores (batch, classes), got {s.shape}")
    target = _one_hot_like(s, labels, "multiclass_hinge")
    target = jax.nn.one_hot(jnp.argmax(target, axis=-1), s.shape[-1], dtype=bool)
    s_true = jnp.sum(jnp.where(target, s, 0), axis=-1, keepdims=True)
    margins = jnp.maximum(0, s - s_true + margin)
    return _batch_mean(jnp.where(target, 0, margins))


def accuracy(logits: ArrayLike, labels: ArrayLike) -> jax.Array:
    """The fraction of correct predictions, as a float32 scalar.

    Multiclass: `argmax(logits) == label` (integer or one-hot labels). Binary, when the logits
    are `(batch,)` or `(batch, 1)`: the prediction is `logit > 0`, the label 0/1.
    """
    z = jnp.asarray(logits)
    y = jnp.asarray(labels)
    if z.ndim == 1 or z.shape[-1] == 1:
        z, y = _matched(z, y, "accuracy")
        correct = (z > 0) == (y > 0.5)
    else:
        if not (jnp.issubdtype(y.dtype, jnp.integer) or y.dtype == jnp.bool_):
            y = jnp.argmax(y, axis=-1)
        if y.shape != z.shape[:-1]:
            raise ValueError(
                f"accuracy: labels of shape {y.shape} do not match logits of shape {z.shape}"
            )
        correct = jnp.argmax(z, axis=-1) == y
    return jnp.mean(correct.astype(jnp.float32))


# What each loss takes as targets: `nets.fit` checks the data against it before training.
l2_loss.targets = "real"
binary_cross_entropy.targets = "binary"
softmax_cross_entropy.targets = "classes"
multiclass_hinge.targets = "classes"
accuracy.targets = "classes"


def l2_regularizer(params: Any, *, include_biases: bool = False) -> jax.Array:
    """`Omega(W) = sum_k ||W_k||_F^2`, the lectures' L2 regularizer (multiply by lambda).

    Sums the squares of the weights: the leaves with two or more axes; vectors (biases) count
    only with `include_biases=True`. Accumulated in at least float32.
    """
    total = jnp.zeros((), jnp.float32)
    for leaf in jax.tree.leaves(params):
        leaf = jnp.asarray(leaf)
        if leaf.ndim >= 2 or include_biases:
            wide = leaf.astype(jnp.promote_types(leaf.dtype, jnp.float32))
            total = total + jnp.sum(jnp.square(wide))
    return total
