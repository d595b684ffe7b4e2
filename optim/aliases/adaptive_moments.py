"""optax's optimizers built on adaptive moments beside Adam's: Adan, NovoGrad, SM3 and the
optimistic Adams (Daskalakis et al. 2018)."""

from __future__ import annotations

from typing import Any

from _descent import validation
from optim._core.base import GradientTransformation, ScalarOrSchedule
from optim._core.combine import chain
from optim._core.masks import MaskOrFn
from optim.transforms.adam import scale_by_adam
from optim.transforms.adan import scale_by_adan
from optim.transforms.novograd import scale_by_novograd
from optim.transforms.optimistic import scale_by_optimistic_gradient
from optim.transforms.regularization import add_decayed_weights
from optim.transforms.scaling import scale_by_learning_rate
from optim.transforms.sm3 import scale_by_sm3


def adan(
    learning_rate: ScalarOrSchedule,
    b1: ScalarOrSchedule = 0.98,
    b2: ScalarOrSchedule = 0.92,
    b3: ScalarOrSchedule = 0.99,
    eps: float = 1e-8,
    eps_root: float = 1e-8,
    weight_decay: ScalarOrSchedule = 0.0,
    mask: MaskOrFn = None,
) -> GradientTransformation:
    """Adan (Xie et al. 2022): `chain(scale_by_adan, add_decayed_weights,
    scale_by_learning_rate)`; optax's defaults (eps_root = 1e-8 here, 0 in the building
    block), decoupled weight decay multiplied by the learning rate."""
    return chain(
        scale_by_adan(b1=b1, b2=b2, b3=b3, eps=eps, eps_root=eps_root),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )


def novograd(
    learning_rate: ScalarOrSchedule,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.25,
    eps: float = 1e-6,
    eps_root: float = 0.0,
    weight_decay: ScalarOrSchedule = 0.0,
) -> GradientTransformation:
    """NovoGrad (Ginsburg et al. 2019): `chain(scale_by_novograd, scale_by_learning_rate)`;
    optax's defaults (eps = 1e-6 here, 1e-8 in the building block)."""
    return chain(
        scale_by_novograd(b1=b1, b2=b2, eps=eps, eps_root=eps_root, weight_decay=weight_decay),
        scale_by_learning_rate(learning_rate),
    )


def sm3(learning_rate: ScalarOrSchedule, momentum: float = 0.9) -> GradientTransformation:
    """SM3 (Anil et al. 2019): `chain(scale_by_sm3(b1=momentum), scale_by_learning_rate)`
    (optax's `scale(-learning_rate)`; a schedule is accepted too)."""
    with validation.renamed(b1="momentum"):
        scaling = scale_by_sm3(momentum)
    return chain(scaling, scale_by_learning_rate(learning_rate))


def optimistic_adam_v2(
    learning_rate: ScalarOrSchedule,
    *,
    alpha: float = 1.0,
    beta: float = 1.0,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    mu_dtype: Any = None,
    nesterov: bool = True,
) -> GradientTransformation:
    """Optimistic Adam: `chain(scale_by_adam(nesterov=True), scale_by_optimistic_gradient(
    alpha, beta), scale_by_learning_rate)`, optax's form of Daskalakis et al. 2018's
    Optimistic Adam (Algorithm 1), with Nesterov momentum by default."""
    return chain(
        scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov),
        scale_by_optimistic_gradient(alpha=alpha, beta=beta),
        scale_by_learning_rate(learning_rate),
    )


def optimistic_adam(
    learning_rate: float,
    optimism: float | None = None,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    mu_dtype: Any = None,
    *,
    nesterov: bool = True,
) -> GradientTransformation:
    """optax's first optimistic Adam, kept for ported code (optax deprecates it for
    `optimistic_adam_v2`): `chain(scale_by_adam, scale_by_optimistic_gradient(
    alpha=learning_rate, beta=optimism), scale_by_learning_rate(1.0))`. `learning_rate` is a
    number (no schedule, as optax's); `optimism` defaults to it."""
    if callable(learning_rate):
        raise TypeError("learning_rate of optimistic_adam must be a number, not a schedule "
                        f"(optimistic_adam_v2 takes one); got {learning_rate!r}")
    validation.non_negative("learning_rate", learning_rate)
    with validation.renamed(alpha="learning_rate", beta="optimism"):
        optimistic = scale_by_optimistic_gradient(
            alpha=learning_rate, beta=learning_rate if optimism is None else optimism)
    return chain(
        scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov),
        optimistic,
        scale_by_learning_rate(1.0),
    )
