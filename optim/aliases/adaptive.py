"""Per-coordinate adaptive learning rates of the lectures: AdaGrad, RMSProp, AdaDelta."""

from __future__ import annotations

from typing import Any

from _descent import validation
from optim._core.base import GradientTransformation, ScalarOrSchedule
from optim._core.combine import chain, identity
from optim._core.masks import MaskOrFn
from optim.transforms.adaptive import scale_by_adadelta, scale_by_rms, scale_by_rss
from optim.transforms.momentum import trace
from optim.transforms.regularization import add_decayed_weights
from optim.transforms.scaling import scale_by_learning_rate


def _is_zero(value: Any) -> bool:
    """True for a Python number equal to 0 (not for arrays, tracers or schedules)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0


def adagrad(
    learning_rate: ScalarOrSchedule = 0.01,
    initial_accumulator_value: float = 0.1,
    eps: float = 1e-7,
) -> GradientTransformation:
    """AdaGrad (Duchi et al. 2011): `chain(scale_by_rss, scale_by_learning_rate)`.

    Args:
      learning_rate: the step size, a number or a schedule (0.01).
      initial_accumulator_value: the sum of squares at the start (0.1, as optax; the lectures
        and PyTorch start at 0).
      eps: added inside the root, `g / sqrt(s + eps)` (1e-7).
    """
    return chain(
        scale_by_rss(initial_accumulator_value, eps), scale_by_learning_rate(learning_rate)
    )


def rmsprop(
    learning_rate: ScalarOrSchedule = 0.001,
    decay: ScalarOrSchedule = 0.9,
    eps: float = 1e-8,
    initial_scale: float = 0.0,
    eps_in_sqrt: bool = True,
    centered: bool = False,
    momentum: ScalarOrSchedule | None = None,
    nesterov: bool = False,
    bias_correction: bool = False,
) -> GradientTransformation:
    """RMSProp (Tieleman & Hinton 2012): `chain(scale_by_rms, scale_by_learning_rate, [trace])`.

    Args:
      learning_rate: the step size, a number or a schedule (1e-3, the lecture's).
      decay: the moving average's decay, the lecture's `MeanSq = 0.9 MeanSq + 0.1 g**2` (0.9).
      eps: added to the mean square (1e-8).
      initial_scale: the mean square at the start (0).
      eps_in_sqrt: eps inside the root (optax) or outside (PyTorch, the CS231n notes).
      centered: divide by the variance `E[g^2] - E[g]^2` instead (Graves 2013).
      momentum: heavy-ball momentum on the scaled step; None for none.
      nesterov: Nesterov's momentum instead.
      bias_correction: debias the moving averages as Adam does.
    """
    scaling = scale_by_rms(
        decay,
        eps,
        initial_scale,
        eps_in_sqrt=eps_in_sqrt,
        centered=centered,
        bias_correction=bias_correction,
    )
    validation.boolean("nesterov", nesterov)
    with validation.renamed(decay="momentum"):
        momentum_part = trace(momentum, nesterov) if momentum is not None else identity()
    return chain(scaling, scale_by_learning_rate(learning_rate), momentum_part)


def adadelta(
    learning_rate: ScalarOrSchedule = 1.0,
    rho: ScalarOrSchedule = 0.9,
    eps: float = 1e-6,
    weight_decay: ScalarOrSchedule = 0.0,
    weight_decay_mask: MaskOrFn = None,
) -> GradientTransformation:
    """AdaDelta (Zeiler 2012): `chain([add_decayed_weights], scale_by_adadelta,
    scale_by_learning_rate)`.

    Args:
      learning_rate: a factor on Zeiler's step (1.0, his rule exactly).
      rho: the decay of both moving averages (0.9, as optax and PyTorch; Zeiler used 0.95).
      eps: added inside both roots (1e-6, Zeiler's); it sets the first steps' size.
      weight_decay: an L2 penalty's gradient added before the scaling (0: none).
      weight_decay_mask: the leaves decayed, as `add_decayed_weights`' mask (None: all).
    """
    # Only a literal 0 skips the decay: an injected (traced) weight_decay has no truth value.
    return chain(
        identity() if _is_zero(weight_decay) else add_decayed_weights(
            weight_decay, weight_decay_mask),
        scale_by_adadelta(rho, eps),
        scale_by_learning_rate(learning_rate),
    )
