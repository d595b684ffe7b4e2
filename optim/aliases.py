"""The lectures' optimizers, each one `chain` of building blocks with optax's keyword names.

Every default descends a loss as it is: learning rates default to the value the method's
paper or the lecture recommends (AdaDelta to 1.0, Zeiler's rule).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from optim.adaptive import scale_by_adadelta, scale_by_adam, scale_by_rms, scale_by_rss
from optim.base import GradientTransformation, ScalarOrSchedule
from optim.combine import chain, identity
from optim.momentum import trace
from optim.regularize import add_decayed_weights
from optim.scale import scale, scale_by_learning_rate
from optim.sign import scale_by_adaptive_gains, scale_by_rprop


def _is_zero(value: Any) -> bool:
    """True for a Python number equal to 0 (not for arrays, tracers or schedules)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0


def sgd(
    learning_rate: ScalarOrSchedule = 0.01,
    momentum: ScalarOrSchedule | None = None,
    nesterov: bool = False,
    accumulator_dtype: Any = None,
) -> GradientTransformation:
    """Gradient descent, with heavy-ball or Nesterov momentum: `trace` then the learning rate."""
    return chain(
        trace(momentum, nesterov, accumulator_dtype) if momentum is not None else identity(),
        scale_by_learning_rate(learning_rate),
    )


def adagrad(
    learning_rate: ScalarOrSchedule = 0.01,
    initial_accumulator_value: float = 0.1,
    eps: float = 1e-7,
) -> GradientTransformation:
    """AdaGrad (Duchi et al. 2011): `scale_by_rss` then the learning rate."""
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
    """RMSProp (Tieleman & Hinton 2012): `scale_by_rms`, the learning rate, optional momentum."""
    return chain(
        scale_by_rms(
            decay,
            eps,
            initial_scale,
            eps_in_sqrt=eps_in_sqrt,
            centered=centered,
            bias_correction=bias_correction,
        ),
        scale_by_learning_rate(learning_rate),
        trace(momentum, nesterov) if momentum is not None else identity(),
    )


def adadelta(
    learning_rate: ScalarOrSchedule = 1.0,
    rho: ScalarOrSchedule = 0.9,
    eps: float = 1e-6,
    weight_decay: ScalarOrSchedule = 0.0,
) -> GradientTransformation:
    """AdaDelta (Zeiler 2012): L2 weight decay, `scale_by_adadelta`, the learning rate (1.0)."""
    # Only a literal 0 skips the decay: an injected (traced) weight_decay has no truth value.
    return chain(
        identity() if _is_zero(weight_decay) else add_decayed_weights(weight_decay),
        scale_by_adadelta(rho, eps),
        scale_by_learning_rate(learning_rate),
    )


def adam(
    learning_rate: ScalarOrSchedule = 0.001,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    mu_dtype: Any = None,
    *,
    nesterov: bool = False,
) -> GradientTransformation:
    """Adam (Kingma & Ba 2015): `scale_by_adam` then the learning rate (1e-3, the lecture's)."""
    return chain(
        scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov),
        scale_by_learning_rate(learning_rate),
    )


def adamw(
    learning_rate: ScalarOrSchedule = 0.001,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    mu_dtype: Any = None,
    weight_decay: ScalarOrSchedule = 1e-4,
    mask: Any | Callable[[Any], Any] | None = None,
    *,
    nesterov: bool = False,
) -> GradientTransformation:
    """AdamW (Loshchilov & Hutter 2019): Adam's scaling, decoupled weight decay, the learning rate.

    The decay is multiplied by the learning rate, as optax and PyTorch do.
    """
    return chain(
        scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )


def rprop(
    learning_rate: float = 0.01,
    eta_minus: float = 0.5,
    eta_plus: float = 1.2,
    min_step_size: float = 1e-6,
    max_step_size: float = 50.0,
) -> GradientTransformation:
    """iRprop- (Igel & Hüsken 2000), for full-batch training: `scale_by_rprop`, then descend."""
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
    """Descent with per-weight gains (the lecture's `+0.05 / x0.95` rule), optional momentum."""
    return chain(
        scale_by_adaptive_gains(increase, decrease, min_gain, max_gain),
        trace(momentum) if momentum is not None else identity(),
        scale_by_learning_rate(learning_rate),
    )
