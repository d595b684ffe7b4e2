"""Optimizers that read the gradient's sign: Rprop, the lecture's adaptive gains, Lion."""

from __future__ import annotations

from typing import Any

from _descent import validation
from optim._core.base import GradientTransformation, ScalarOrSchedule
from optim._core.combine import chain, identity
from optim._core.masks import MaskOrFn
from optim.transforms.momentum import trace
from optim.transforms.regularization import add_decayed_weights
from optim.transforms.scaling import scale, scale_by_learning_rate
from optim.transforms.sign_based import scale_by_adaptive_gains, scale_by_lion, scale_by_rprop


def rprop(
    learning_rate: float = 0.01,
    eta_minus: float = 0.5,
    eta_plus: float = 1.2,
    min_step_size: float = 1e-6,
    max_step_size: float = 50.0,
) -> GradientTransformation:
    """iRprop- (Igel & Hüsken 2000), for full-batch training: `chain(scale_by_rprop, scale(-1))`.

    Args:
      learning_rate: every weight's first step size (0.01).
      eta_minus: the factor on a step size whose gradient flipped sign (0.5).
      eta_plus: the factor on a step size whose gradient kept its sign (1.2).
      min_step_size, max_step_size: the bounds of the step sizes (1e-6, 50).
    """
    return chain(
        scale_by_rprop(learning_rate, eta_minus, eta_plus, min_step_size, max_step_size),
        scale(-1.0),
    )


def adaptive_gains(
    learning_rate: ScalarOrSchedule = 0.01,
    increase: float = 0.05,
    decrease: float = 0.95,
    min_gain: float = 0.01,
    max_gain: float = 100.0,
    momentum: ScalarOrSchedule | None = None,
) -> GradientTransformation:
    """Descent with the lecture's per-weight gains: `chain(scale_by_adaptive_gains, [trace],
    scale_by_learning_rate)`.

    Args:
      learning_rate: the global step size, a number or a schedule (0.01).
      increase: added to a gain while its gradient keeps its sign (0.05).
      decrease: the factor on a gain whose gradient flipped sign (0.95).
      min_gain, max_gain: the gains' bounds (0.01, 100; the lecture advises bounding them).
      momentum: heavy-ball momentum on the gained gradient; None for none.
    """
    gains = scale_by_adaptive_gains(increase, decrease, min_gain, max_gain)
    with validation.renamed(decay="momentum"):
        momentum_part = trace(momentum) if momentum is not None else identity()
    return chain(gains, momentum_part, scale_by_learning_rate(learning_rate))


def lion(
    learning_rate: ScalarOrSchedule = 1e-4,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.99,
    mu_dtype: Any = None,
    weight_decay: ScalarOrSchedule = 1e-3,
    mask: MaskOrFn = None,
) -> GradientTransformation:
    """Lion (Chen et al. 2023): `chain(scale_by_lion, add_decayed_weights,
    scale_by_learning_rate)`; defaults as optax (the paper: a rate 3-10x below AdamW's).

    Args:
      learning_rate: the step size of every coordinate, a number or a schedule (1e-4).
      b1: the interpolation between momentum and gradient whose sign is taken (0.9).
      b2: the momentum's decay (0.99).
      mu_dtype: the momentum's dtype (default the params').
      weight_decay: the decoupled decay's rate (1e-3).
      mask: which leaves are decayed (a tree of booleans, a prefix, a function, or None).
    """
    return chain(
        scale_by_lion(b1, b2, mu_dtype),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )
