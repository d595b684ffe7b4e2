"""optax's losses under optax's names, keywords and defaults (`optim.losses.l2_loss`, ...;
the common ones also as `optim.l2_loss`, as optax exports them).

Per-example semantics, as optax: a loss returns one value per entry (regression, binary
classification) or per example (the losses over a class axis), never a mean over the batch;
reduce it yourself (`jnp.mean(optim.losses.softmax_cross_entropy(logits, labels))`). The few
losses that are defined on a whole batch or list say so (`ntxent`,
`multiclass_generalized_dice_loss`, `ranking_softmax_loss`'s default `reduce_fn=jnp.mean`).
`nets.losses` holds the lectures' losses, which are batch means.

    regression      squared_error, l2_loss, huber_loss, log_cosh, cosine_similarity, ...
    classification  sigmoid and softmax cross-entropies, focal, hinge, perceptron, poly-1, ...
    divergences     KL divergences
    sparse          Fenchel-Young losses, sparsemax
    ranking         listwise softmax, NT-Xent, triplet margin
    segmentation    Dice and Tversky
    sequence        CTC

Shapes, dtypes and numeric hyperparameters are checked when a loss is called (under `jit`
too: they are known at trace time); values inside `jit` cannot be, and each docstring says
what a bad value then does.
"""
# ruff: noqa: F401  (every import here is a re-export)

from optim.losses.classification import (
    hinge_loss,
    multiclass_hinge_loss,
    multiclass_perceptron_loss,
    perceptron_loss,
    poly_loss_cross_entropy,
    safe_softmax_cross_entropy,
    sigmoid_binary_cross_entropy,
    sigmoid_focal_loss,
    smooth_labels,
    softmax_cross_entropy,
    softmax_cross_entropy_with_integer_labels,
)
from optim.losses.divergences import (
    convex_kl_divergence,
    generalized_kl_divergence,
    kl_divergence,
    kl_divergence_with_log_targets,
)
from optim.losses.ranking import ntxent, ranking_softmax_loss, triplet_margin_loss
from optim.losses.regression import (
    cosine_distance,
    cosine_similarity,
    huber_loss,
    l2_loss,
    log_cosh,
    squared_error,
)
from optim.losses.segmentation import binary_dice_loss, dice_loss, multiclass_generalized_dice_loss
from optim.losses.sequence import ctc_loss, ctc_loss_with_forward_probs
from optim.losses.sparse import make_fenchel_young_loss, multiclass_sparsemax_loss, sparsemax_loss

__all__ = sorted(
    name for name, value in globals().items()
    if not name.startswith("_") and callable(value)
)
