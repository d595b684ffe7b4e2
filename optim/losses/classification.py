"""Classification losses from logits or scores under optax's names: one value per example
(per entry for the binary ones), never a mean over the batch.

    sigmoid_binary_cross_entropy(x, y)   -y log sigmoid(x) - (1 - y) log sigmoid(-x)
    sigmoid_focal_loss(x, y, alpha, gamma)   the cross-entropy times (1 - p_t)**gamma
                                         (Lin et al. 2017), p_t the probability of the label
    hinge_loss(s, y), perceptron_loss(s, y)    max(0, 1 - s y), max(0, -s y), y in {-1, 1}
    multiclass_hinge_loss(s, k)          max_j (s_j + [j != k]) - s_k (Crammer & Singer 2001)
    multiclass_perceptron_loss(s, k)     max_j s_j - s_k
    softmax_cross_entropy(x, y)          -sum_j y_j log softmax(x)_j
    softmax_cross_entropy_with_integer_labels(x, k)    logsumexp(x) - x_k
    safe_softmax_cross_entropy(x, y)     the same, 0 (not NaN) where y_j = 0 and x_j = -inf
    poly_loss_cross_entropy(x, y, epsilon)   the cross-entropy + epsilon sum_j y_j (1 - p_j)
                                         (Poly-1, Leng et al. 2022)

Every logarithm of a probability is taken from the logits (`log_sigmoid`, `log_softmax`,
`logsumexp`), so logits of 1000 give finite losses and gradients.
"""

from __future__ import annotations

import operator

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from optim.losses.inputs import (
    as_floating,
    as_integer,
    broadcastable,
    hyperparameter,
    labels_in_range,
    same_shape,
)


def _broadcast(logits: jax.Array, labels: ArrayLike, name: str = "labels") -> tuple:
    labels = jnp.asarray(labels)
    broadcastable("logits", logits, name, labels)
    logits, labels = jnp.broadcast_arrays(logits, labels.astype(logits.dtype))
    return logits, labels


def sigmoid_binary_cross_entropy(logits: ArrayLike, labels: ArrayLike) -> jax.Array:
    """The binary cross-entropy of each entry, `-y log p - (1 - y) log(1 - p)` with
    `p = sigmoid(logits)`; `labels` in [0, 1] (soft labels allowed), broadcastable to `logits`.
    Both logarithms are `log_sigmoid`s of the logits: no `log(0)` for large logits."""
    logits, labels = _broadcast(as_floating("logits", logits), labels)
    return -labels * jax.nn.log_sigmoid(logits) - (1.0 - labels) * jax.nn.log_sigmoid(-logits)


def sigmoid_focal_loss(
    logits: ArrayLike, labels: ArrayLike, *, alpha: ArrayLike | None = None,
    gamma: ArrayLike = 2.0,
) -> jax.Array:
    """The focal loss (Lin et al. 2017) of each entry: the binary cross-entropy times
    `(1 - p_t)**gamma`, where `1 - p_t = y (1 - p) + (1 - y) p`, weighted by `alpha` for the
    positives and `1 - alpha` for the negatives when `alpha` is given.

    `(1 - p_t)` is taken in log space, `log(y e^{log(1-p)} + (1 - y) e^{log p})`, so that it
    stays accurate for confident logits. `gamma >= 0` and `alpha` in [0, 1] are checked when
    they are numbers.
    """
    hyperparameter("gamma", gamma, 0.0)
    if alpha is not None:
        hyperparameter("alpha", alpha, 0.0, 1.0)
    logits, labels = _broadcast(as_floating("logits", logits), labels)
    log_p, log_q = jax.nn.log_sigmoid(logits), jax.nn.log_sigmoid(-logits)
    cross_entropy = -labels * log_p - (1.0 - labels) * log_q
    log_miss = jax.scipy.special.logsumexp(
        jnp.stack([log_p, log_q], axis=-1), axis=-1, b=jnp.stack([1 - labels, labels], axis=-1)
    )
    loss = cross_entropy * jnp.exp(gamma * log_miss)
    if alpha is None:
        return loss
    return (alpha * labels + (1.0 - alpha) * (1.0 - labels)) * loss


def hinge_loss(predictor_outputs: ArrayLike, targets: ArrayLike) -> jax.Array:
    """`max(0, 1 - s y)` per entry, for scores `s` and targets `y` in {-1, 1}."""
    scores, targets = jnp.asarray(predictor_outputs), jnp.asarray(targets)
    broadcastable("predictor_outputs", scores, "targets", targets)
    scores, targets = jnp.broadcast_arrays(scores, targets)
    return jnp.maximum(0, 1 - scores * targets)


def perceptron_loss(predictor_outputs: ArrayLike, targets: ArrayLike) -> jax.Array:
    """`max(0, -s y)` per entry (Rosenblatt's perceptron criterion), targets in {-1, 1}."""
    scores, targets = jnp.asarray(predictor_outputs), jnp.asarray(targets)
    same_shape("predictor_outputs", scores, "targets", targets)
    return jnp.maximum(0, -scores * targets)


def _label_scores(scores: jax.Array, labels: ArrayLike) -> tuple:
    """The one-hot labels and `s_k`, with the shape checks shared by the multiclass losses."""
    labels = as_integer("labels", labels)
    if jnp.ndim(scores) < 1 or jnp.shape(labels) != jnp.shape(scores)[:-1]:
        raise ValueError(
            f"labels must have the shape of scores without its last (class) axis, got scores "
            f"{jnp.shape(scores)} and labels {jnp.shape(labels)}"
        )
    labels_in_range("labels", labels, scores.shape[-1])
    one_hot = jax.nn.one_hot(labels, scores.shape[-1], dtype=scores.dtype)
    return one_hot, jnp.sum(scores * one_hot, axis=-1)


def multiclass_hinge_loss(scores: ArrayLike, labels: ArrayLike) -> jax.Array:
    """Crammer and Singer's (2001) multiclass hinge, per example:
    `max_j (s_j + 1 - [j = k]) - s_k`, zero once the true class leads all others by 1.
    `labels` are integers in [0, num_classes) (checked when concrete)."""
    scores = jnp.asarray(scores)
    one_hot, true_score = _label_scores(scores, labels)
    return jnp.max(scores + 1.0 - one_hot, axis=-1) - true_score


def multiclass_perceptron_loss(scores: ArrayLike, labels: ArrayLike) -> jax.Array:
    """`max_j s_j - s_k` per example: zero when the true class has the top score."""
    scores = jnp.asarray(scores)
    _, true_score = _label_scores(scores, labels)
    return jnp.max(scores, axis=-1) - true_score


def _expand_where(where: ArrayLike | None, logits: jax.Array, axis) -> jax.Array | None:
    # optax accepts a `where` without the class axis (one flag per example).
    if where is None:
        return None
    where = jnp.asarray(where)
    return jnp.expand_dims(where, axis) if where.ndim != logits.ndim else where


def softmax_cross_entropy(
    logits: ArrayLike, labels: ArrayLike, axis: int | tuple[int, ...] | None = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    """`-sum_j y_j log softmax(x)_j` along `axis`, one value per example; `labels` are
    distributions over the classes, of the shape of `logits`. `where` masks classes out of
    both the softmax and the sum (given per example, without the class axis, it masks whole
    examples)."""
    logits = as_floating("logits", logits)
    labels = jnp.asarray(labels)
    same_shape("logits", logits, "labels", labels)
    where = _expand_where(where, logits, axis)
    log_probs = jax.nn.log_softmax(logits, axis, where=where)
    return -jnp.sum(labels * log_probs, axis, where=where)


def _canonical(axis: int, ndim: int) -> int:
    axis = operator.index(axis)
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis {axis} is out of bounds for logits of {ndim} dimensions")
    return axis % ndim


def softmax_cross_entropy_with_integer_labels(
    logits: ArrayLike, labels: ArrayLike, axis: int | tuple[int, ...] = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    """`logsumexp(x) - x_k` for the class index `k` of each example.

    `axis` is the class axis, or a tuple of axes whose entries are the classes (a label is
    then a flat index into them). `labels` have the shape of `logits` without the class
    axes. Concrete labels outside [0, num_classes) raise; under `jit` they cannot be read, and
    a label past the last class gives NaN while a negative one counts from the end (indexing's
    rule, as in optax).
    """
    logits = as_floating("logits", logits)
    labels = as_integer("labels", labels)
    where = _expand_where(where, logits, axis)
    if isinstance(axis, tuple):
        classes = tuple(sorted({_canonical(a, logits.ndim) for a in axis}))
        batch = tuple(a for a in range(logits.ndim) if a not in classes)
        flat_shape = tuple(logits.shape[a] for a in batch) + (-1,)
        logits = logits.transpose(batch + classes).reshape(flat_shape)
        if where is not None:
            where = where.transpose(batch + classes).reshape(flat_shape)
        axis = len(batch)
    elif isinstance(axis, int):
        axis = _canonical(axis, logits.ndim)
    else:
        raise TypeError(f"axis must be an int or a tuple of ints, got {axis!r}")
    expected = logits.shape[:axis] + logits.shape[axis + 1:]
    if labels.shape != expected:
        raise ValueError(
            f"labels must have the shape of logits without the class axis, {expected}, "
            f"got {labels.shape}"
        )
    labels_in_range("labels", labels, logits.shape[axis])
    true_logit = jnp.take_along_axis(logits, jnp.expand_dims(labels, axis), axis=axis)
    out = jax.nn.logsumexp(logits, axis=axis, where=where) - jnp.squeeze(true_logit, axis)
    if where is not None:
        out = jnp.where(jnp.any(where, axis), out, 0.0)
    return out


def safe_softmax_cross_entropy(logits: ArrayLike, labels: ArrayLike) -> jax.Array:
    """`softmax_cross_entropy` along the last axis where a class of label 0 contributes 0
    even when its logit is `-inf` (masked out), in the loss and in the gradients (the product
    `0 * -inf` is never formed)."""
    logits = as_floating("logits", logits)
    labels = jnp.asarray(labels)
    same_shape("logits", logits, "labels", labels)
    used = labels != 0
    log_probs = jnp.where(used, jax.nn.log_softmax(logits, axis=-1), 0.0)
    return -jnp.sum(jnp.where(used, labels * log_probs, 0.0), axis=-1)


def poly_loss_cross_entropy(
    logits: ArrayLike, labels: ArrayLike, *, epsilon: ArrayLike = 2.0,
    axis: int | tuple[int, ...] | None = -1, where: ArrayLike | None = None,
) -> jax.Array:
    """Poly-1 (Leng et al. 2022): `softmax_cross_entropy + epsilon sum_j y_j (1 - p_j)`, the
    first term of the cross-entropy's polynomial expansion reweighted; `epsilon = 0` is the
    cross-entropy (the paper uses epsilon >= -1; optax's default 2.0)."""
    logits = as_floating("logits", logits)
    labels = as_floating("labels", labels)
    cross_entropy = softmax_cross_entropy(logits, labels, axis=axis, where=where)
    where = _expand_where(where, logits, axis)
    probs = jax.nn.softmax(logits, axis=axis, where=where)
    return cross_entropy + epsilon * jnp.sum(labels * (1 - probs), axis=axis, where=where)


def smooth_labels(
    labels: ArrayLike, alpha: ArrayLike, *, axis: int | tuple[int, ...] | None = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    """Label smoothing (Szegedy et al. 2016): `(1 - alpha) y + alpha / K`, `K` the number of
    classes along `axis` (those `where` allows). `alpha` in [0, 1] (checked when a number)."""
    labels = as_floating("labels", labels)
    hyperparameter("alpha", alpha, 0.0, 1.0)
    if where is None:
        count = jnp.size(labels, axis) if axis is not None else labels.size
    else:
        count = jnp.sum(jnp.asarray(where), axis, keepdims=True)
    return (1.0 - alpha) * labels + alpha / count
