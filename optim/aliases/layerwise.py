"""Layer-wise trust ratios for large batches: LAMB and LARS ("layer" = one leaf)."""

from __future__ import annotations

from _descent import validation
from optim._core.base import GradientTransformation, ScalarOrSchedule
from optim._core.combine import chain
from optim._core.masks import MaskOrFn
from optim.transforms.adam import scale_by_adam
from optim.transforms.layerwise import scale_by_lars, scale_by_trust_ratio
from optim.transforms.momentum import trace
from optim.transforms.regularization import add_decayed_weights
from optim.transforms.scaling import scale_by_learning_rate


def lamb(
    learning_rate: ScalarOrSchedule = 0.001,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: float = 1e-6,
    eps_root: float = 0.0,
    weight_decay: ScalarOrSchedule = 0.0,
    mask: MaskOrFn = None,
) -> GradientTransformation:
    """LAMB (You et al. 2020): `chain(scale_by_adam, add_decayed_weights, scale_by_trust_ratio,
    scale_by_learning_rate)`.

    Args:
      learning_rate: the step size relative to each leaf's norm, a number or a schedule.
      b1, b2, eps_root: Adam's (0.9, 0.999, 0).
      eps: added to Adam's root (1e-6, the paper's, as optax).
      weight_decay: the decoupled decay's rate, applied before the trust ratio (0).
      mask: which leaves are decayed (a tree of booleans, a prefix, a function, or None).
    """
    return chain(
        scale_by_adam(b1, b2, eps, eps_root),
        add_decayed_weights(weight_decay, mask),
        scale_by_trust_ratio(),
        scale_by_learning_rate(learning_rate),
    )


def lars(
    learning_rate: ScalarOrSchedule = 0.1,
    weight_decay: ScalarOrSchedule = 0.0,
    weight_decay_mask: MaskOrFn = True,
    trust_coefficient: float = 0.001,
    eps: float = 0.0,
    trust_ratio_mask: MaskOrFn = True,
    momentum: ScalarOrSchedule = 0.9,
    nesterov: bool = False,
) -> GradientTransformation:
    """LARS (You, Gitman & Ginsburg 2017): `chain(scale_by_lars, scale_by_learning_rate,
    trace)`, the paper's momentum on the locally scaled step; optax's keyword names.

    Args:
      learning_rate: the global step size, a number or a schedule (0.1).
      weight_decay: beta, the L2 decay inside the local rate (0).
      weight_decay_mask: which leaves are decayed (True: all).
      trust_coefficient: eta of the local rate `eta ||w|| / (||g|| + beta ||w||)` (0.001).
      eps: added to that denominator (0).
      trust_ratio_mask: which leaves are rescaled (True: all; often the weights only).
      momentum: the momentum's decay (0.9).
      nesterov: Nesterov's momentum instead of the heavy ball.
    """
    local = scale_by_lars(
        trust_coefficient,
        weight_decay,
        eps,
        weight_decay_mask=weight_decay_mask,
        trust_ratio_mask=trust_ratio_mask,
    )
    with validation.renamed(decay="momentum"):
        momentum_part = trace(momentum, validation.boolean("nesterov", nesterov))
    return chain(local, scale_by_learning_rate(learning_rate), momentum_part)
