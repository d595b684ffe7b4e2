"""Sign descent: signSGD and Signum (Bernstein et al. 2018, "signSGD: Compressed Optimisation
for Non-Convex Problems", arXiv:1802.04434), as optax's `sign_sgd` and `signum`."""

from __future__ import annotations

from typing import Any

from _descent import validation
from optim._core.base import GradientTransformation, ScalarOrSchedule
from optim._core.combine import chain
from optim.transforms.momentum import ema
from optim.transforms.scaling import scale_by_learning_rate
from optim.transforms.sign_based import sign


def sign_sgd(learning_rate: ScalarOrSchedule) -> GradientTransformation:
    """signSGD, `u = -learning_rate * sign(g)`: `chain(sign, scale_by_learning_rate)`."""
    return chain(sign(), scale_by_learning_rate(learning_rate))


def signum(
    learning_rate: ScalarOrSchedule, beta: ScalarOrSchedule = 0.9, accumulator_dtype: Any = None
) -> GradientTransformation:
    """Signum, `m_t = beta m_{t-1} + (1 - beta) g_t`, `u_t = -learning_rate * sign(m_t)`:
    `chain(ema(beta, debias=False), sign, scale_by_learning_rate)` (no debiasing: a positive
    factor does not change a sign). beta = 0.9 as the paper and optax."""
    with validation.renamed(decay="beta"):
        average = ema(beta, debias=False, accumulator_dtype=accumulator_dtype)
    return chain(average, sign(), scale_by_learning_rate(learning_rate))
