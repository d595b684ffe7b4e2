"""Adam and its family: AdamW, NAdam, AMSGrad, AdaMax, RAdam, AdaBelief.

Each is one chain of its scaling (`optim/transforms/adam.py`, `adam_variance.py`) and the
learning rate; the update rules and the conventions chosen where libraries differ are in the
scalings' docstrings. Common arguments:

- `learning_rate`: the step size, a number or a schedule;
- `b1`, `b2`: the decays of the first and second moments (numbers or schedules);
- `eps`: added to the root of the second moment (outside it, as the paper);
- `eps_root`: added inside the root (keeps the update differentiable at 0);
- `mu_dtype`: the first moment's dtype (e.g. bfloat16 to save memory).
"""

from __future__ import annotations

from typing import Any

from _descent import validation
from optim._core.base import GradientTransformation, ScalarOrSchedule
from optim._core.combine import chain
from optim._core.masks import MaskOrFn
from optim.transforms.adam import scale_by_adam, scale_by_nadam
from optim.transforms.adam_variance import (
    scale_by_adamax,
    scale_by_amsgrad,
    scale_by_belief,
    scale_by_radam,
)
from optim.transforms.regularization import add_decayed_weights
from optim.transforms.scaling import scale_by_learning_rate


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
    """Adam (Kingma & Ba 2015): `chain(scale_by_adam, scale_by_learning_rate)`.

    Args:
      learning_rate: 1e-3, the paper's and the lecture's.
      b1, b2, eps, eps_root, mu_dtype: see the module docstring (0.9, 0.999, 1e-8, 0, None).
      nesterov: Nesterov's momentum on the first moment (NAdam as optax writes it).
    """
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
    mask: MaskOrFn = None,
    *,
    nesterov: bool = False,
) -> GradientTransformation:
    """AdamW (Loshchilov & Hutter 2019): `chain(scale_by_adam, add_decayed_weights,
    scale_by_learning_rate)`; the decay is multiplied by the learning rate, as optax and PyTorch.

    Args:
      learning_rate, b1, b2, eps, eps_root, mu_dtype, nesterov: as `adam`.
      weight_decay: the decoupled decay's rate (1e-4), a number or a schedule.
      mask: which leaves are decayed: a tree of booleans (or a prefix of the params), a
        function `params -> mask`, or None for all.
    """
    return chain(
        scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )


def nadam(
    learning_rate: ScalarOrSchedule = 0.002,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    momentum_decay: float | None = 0.004,
    mu_dtype: Any = None,
    *,
    nesterov: bool = True,
) -> GradientTransformation:
    """NAdam (Dozat 2016): `chain(scale_by_nadam, scale_by_learning_rate)`.

    Args:
      learning_rate: 0.002, as Dozat and PyTorch.
      b1, b2, eps, eps_root, mu_dtype: see the module docstring.
      momentum_decay: Dozat's momentum schedule `b1 (1 - 0.5 * 0.96**(t * momentum_decay))`
        (0.004); None keeps the momentum at b1, optax's `nadam`.
      nesterov: optax's keyword (True): False gives plain `adam` (`chain(scale_by_adam,
        scale_by_learning_rate)`, momentum_decay unused but still checked).
    """
    scaling = scale_by_nadam(b1, b2, eps, eps_root, momentum_decay, mu_dtype)
    if not validation.boolean("nesterov", nesterov):
        scaling = scale_by_adam(b1, b2, eps, eps_root, mu_dtype)
    return chain(scaling, scale_by_learning_rate(learning_rate))


def amsgrad(
    learning_rate: ScalarOrSchedule = 0.001,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    mu_dtype: Any = None,
    bias_correction_mu: bool = True,
    bias_correction_nu: bool = True,
    *,
    debias_before_max: bool = True,
) -> GradientTransformation:
    """AMSGrad (Reddi et al. 2018): `chain(scale_by_amsgrad, scale_by_learning_rate)`.

    Args:
      learning_rate, b1, b2, eps, eps_root, mu_dtype: as `adam`.
      bias_correction_mu, bias_correction_nu: debias the first / second moment (True both, as
        optax; both False is the paper's Algorithm 1).
      debias_before_max: the max over the debiased second moment (optax; the denominator never
        shrinks), or debiased after the max (PyTorch).
    """
    return chain(
        scale_by_amsgrad(b1, b2, eps, eps_root, mu_dtype, bias_correction_mu,
                         bias_correction_nu, debias_before_max=debias_before_max),
        scale_by_learning_rate(learning_rate),
    )


def adamax(
    learning_rate: ScalarOrSchedule = 0.002,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: float = 1e-8,
) -> GradientTransformation:
    """AdaMax (Kingma & Ba 2015, Sec. 7.1): `chain(scale_by_adamax, scale_by_learning_rate)`.

    Args:
      learning_rate: 0.002, the paper's.
      b1, b2: the decays of the first moment and of the infinity norm.
      eps: added to the infinity norm.
    """
    return chain(scale_by_adamax(b1, b2, eps), scale_by_learning_rate(learning_rate))


def radam(
    learning_rate: ScalarOrSchedule = 0.001,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    threshold: float = 5.0,
    *,
    nesterov: bool = False,
) -> GradientTransformation:
    """RAdam (Liu et al. 2020): `chain(scale_by_radam, scale_by_learning_rate)`.

    Args:
      learning_rate, b1, b2, eps, eps_root: as `adam` (b1 and b2 are fixed numbers here).
      threshold: the length of the approximated moving average above which the rectified
        adaptive step is taken (5, as optax; momentum SGD below it).
      nesterov: Nesterov's momentum on the first moment (as `adam`; False).
    """
    return chain(
        scale_by_radam(b1, b2, eps, eps_root, threshold, nesterov=nesterov),
        scale_by_learning_rate(learning_rate),
    )


def adabelief(
    learning_rate: ScalarOrSchedule = 0.001,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: float = 1e-16,
    eps_root: float = 1e-16,
    *,
    nesterov: bool = False,
) -> GradientTransformation:
    """AdaBelief (Zhuang et al. 2020): `chain(scale_by_belief, scale_by_learning_rate)`.

    Args:
      learning_rate, b1, b2: as `adam`.
      eps, eps_root: the paper's eps, outside the root and inside the belief (1e-16 both).
      nesterov: Nesterov's momentum on the first moment (as `adam`; False).
    """
    return chain(
        scale_by_belief(b1, b2, eps, eps_root, nesterov=nesterov),
        scale_by_learning_rate(learning_rate),
    )
