"""Three of optax's Adam variants: NAdamW, AdaMaxW (decoupled weight decay on NAdam and
AdaMax, Loshchilov & Hutter 2019) and Yogi (Zaheer et al. 2018).

The weight decay is multiplied by the learning rate, as optax's and PyTorch's (and `adamw`).
"""

from __future__ import annotations

from typing import Any

from optim._core.base import GradientTransformation, ScalarOrSchedule
from optim._core.combine import chain
from optim._core.masks import MaskOrFn
from optim.aliases.adam import adamw
from optim.transforms.adam_variance import scale_by_adamax
from optim.transforms.regularization import add_decayed_weights
from optim.transforms.scaling import scale_by_learning_rate
from optim.transforms.variance import scale_by_yogi


def nadamw(
    learning_rate: ScalarOrSchedule = 0.001,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    mu_dtype: Any = None,
    weight_decay: ScalarOrSchedule = 1e-4,
    mask: MaskOrFn = None,
    *,
    nesterov: bool = True,
) -> GradientTransformation:
    """NAdamW: `adamw(..., nesterov=True)` (optax's `nadamw`, Dozat 2016's Nesterov momentum
    with the bias correction of Adam; not `nadam`'s momentum schedule). Arguments as `adamw`."""
    return adamw(
        learning_rate, b1, b2, eps, eps_root, mu_dtype, weight_decay, mask, nesterov=nesterov
    )


def adamaxw(
    learning_rate: ScalarOrSchedule = 0.002,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: float = 1e-8,
    weight_decay: ScalarOrSchedule = 1e-4,
    mask: MaskOrFn = None,
) -> GradientTransformation:
    """AdaMaxW: `chain(scale_by_adamax, add_decayed_weights, scale_by_learning_rate)`.
    Arguments as `adamax`, and `weight_decay` (1e-4) and `mask` as `adamw`."""
    return chain(
        scale_by_adamax(b1, b2, eps),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )


def yogi(
    learning_rate: ScalarOrSchedule,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: float = 1e-3,
) -> GradientTransformation:
    """Yogi: `chain(scale_by_yogi, scale_by_learning_rate)`; defaults from optax and the paper."""
    return chain(scale_by_yogi(b1=b1, b2=b2, eps=eps), scale_by_learning_rate(learning_rate))
