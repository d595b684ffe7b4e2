"""Segmentation losses under optax's names: Dice and Tversky overlaps, one value per image.

    dice_loss(x, y)   1 - (|P n Y| + smooth) / (|P n Y| + alpha |P \\ Y| + beta |Y \\ P| + smooth)
                      per image and class (Tversky 1977; alpha = beta = 1/2 is Dice's
                      coefficient, Milletari et al. 2016), then reduced over the classes
    multiclass_generalized_dice_loss(x, y)   the classes weighted by 1 / frequency**2 (Sudre
                      et al. 2017), then the mean
    binary_dice_loss(x, y)   one foreground class through a sigmoid

Shapes are `[batch, *spatial, classes]`; sums run over the spatial axes.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from _descent import validation
from optim.losses.inputs import rank, same_shape


def dice_loss(
    predictions: ArrayLike, targets: ArrayLike, *, class_weights: ArrayLike | None = None,
    smooth: ArrayLike = 1.0, alpha: ArrayLike = 0.5, beta: ArrayLike = 0.5,
    apply_softmax: bool = True, reduction: str = "mean", ignore_background: bool = False,
    axis: ArrayLike | None = None,
) -> jax.Array:
    """The Tversky loss of each image and class, `1 - (I + smooth) / (I + alpha (S_p - I) +
    beta (S_y - I) + smooth)`, with `I = sum p y`, `S_p = sum p`, `S_y = sum y` over `axis`
    (the spatial axes by default); `p` is the softmax of the logits over the class axis
    (a sigmoid for one class) unless `apply_softmax=False`, when `predictions` must already be
    probabilities (checked when concrete). `class_weights` (one per class) multiply the
    per-class losses; `ignore_background` drops class 0; `reduction` over the classes is
    `"mean"` (one value per image), `"sum"` or `"none"` (`[batch, classes]`).
    """
    reduction = validation.choice("reduction", reduction, ("mean", "sum", "none"))
    predictions, targets = jnp.asarray(predictions), jnp.asarray(targets)
    # One class may be given without its axis, as optax allows.
    if predictions.ndim == targets.ndim - 1:
        predictions = predictions[..., None]
    if targets.ndim == predictions.ndim - 1:
        targets = targets[..., None]
    same_shape("predictions", predictions, "targets", targets)
    if apply_softmax:
        one_class = predictions.shape[-1] == 1
        probs = jax.nn.sigmoid(predictions) if one_class else jax.nn.softmax(predictions, -1)
    else:
        if not isinstance(predictions, jax.core.Tracer):
            sums = np.asarray(jnp.sum(predictions, axis=-1))
            if not np.allclose(sums, 1.0, rtol=1e-5):
                raise ValueError(
                    "with apply_softmax=False, predictions must be probabilities summing to 1 "
                    f"over the class axis, got sums in [{sums.min():g}, {sums.max():g}]"
                )
        probs = predictions
    axis = tuple(range(1, probs.ndim - 1)) if axis is None else axis
    overlap = jnp.sum(probs * targets, axis=axis)
    predicted = jnp.sum(probs, axis=axis)
    actual = jnp.sum(targets, axis=axis)
    tversky = (overlap + smooth) / (
        overlap + alpha * (predicted - overlap) + beta * (actual - overlap) + smooth
    )
    loss = 1.0 - tversky
    if class_weights is not None:
        class_weights = jnp.asarray(class_weights)
        rank("class_weights", class_weights, 1)
        loss = loss * jnp.broadcast_to(class_weights, loss.shape)
    if ignore_background and probs.shape[-1] > 1:
        loss = loss[..., 1:]
    if reduction == "mean":
        return jnp.mean(loss, axis=-1)
    if reduction == "sum":
        return jnp.sum(loss, axis=-1)
    return loss


def multiclass_generalized_dice_loss(
    predictions: ArrayLike, targets: ArrayLike, *, smooth: ArrayLike = 1.0,
    apply_softmax: bool = True, ignore_background: bool = False,
) -> jax.Array:
    """The generalized Dice loss (Sudre et al. 2017): the per-class Dice losses weighted by
    `1 / (frequency**2 + 1e-7)` (the weights scaled to sum to the number of classes), the
    frequency counted over the whole batch, then averaged: one scalar for the batch."""
    predictions, targets = jnp.asarray(predictions), jnp.asarray(targets)
    same_shape("predictions", predictions, "targets", targets)
    frequency = jnp.sum(targets, axis=tuple(range(targets.ndim - 1)))
    weights = 1.0 / (jnp.square(frequency) + 1e-7)
    weights = weights / jnp.sum(weights) * weights.shape[0]
    return jnp.mean(dice_loss(
        predictions, targets, class_weights=weights, smooth=smooth,
        apply_softmax=apply_softmax, reduction="none", ignore_background=ignore_background,
    ))


def binary_dice_loss(
    predictions: ArrayLike, targets: ArrayLike, *, smooth: ArrayLike = 1.0,
    apply_sigmoid: bool = True,
) -> jax.Array:
    """The Dice loss of one foreground class per image, from logits through a sigmoid
    (or probabilities with `apply_sigmoid=False`), `[batch, *spatial]` or with a trailing
    class axis of size 1."""
    predictions, targets = jnp.asarray(predictions), jnp.asarray(targets)
    if predictions.ndim == targets.ndim and predictions.shape[-1] != 1:
        predictions, targets = predictions[..., None], targets[..., None]
    if apply_sigmoid:
        return dice_loss(predictions, targets, smooth=smooth, reduction="mean")
    return _binary_probabilities(predictions, targets, smooth)


def _binary_probabilities(predictions: jax.Array, targets: jax.Array, smooth) -> jax.Array:
    # Probabilities of one class do not sum to 1 over a class axis of size 1, so the check of
    # dice_loss(apply_softmax=False) does not apply; the overlap is computed directly.
    same_shape("predictions", predictions, "targets", targets)
    axis = tuple(range(1, predictions.ndim - 1))
    overlap = jnp.sum(predictions * targets, axis=axis)
    total = jnp.sum(predictions, axis=axis) + jnp.sum(targets, axis=axis)
    return jnp.mean(1.0 - (overlap + smooth) / (0.5 * total + smooth), axis=-1)
