"""Gradient descent: plain, with heavy-ball or Nesterov momentum, and with annealed noise."""

from __future__ import annotations

from typing import Any

from _descent import validation
from optim._core.base import GradientTransformation, ScalarOrSchedule
from optim._core.combine import chain, identity
from optim.transforms.momentum import trace
from optim.transforms.noise import add_noise
from optim.transforms.scaling import scale_by_learning_rate


def sgd(
    learning_rate: ScalarOrSchedule = 0.01,
    momentum: ScalarOrSchedule | None = None,
    nesterov: bool = False,
    accumulator_dtype: Any = None,
) -> GradientTransformation:
    """Gradient descent, heavy-ball or Nesterov: `chain([trace], scale_by_learning_rate)`.

    Args:
      learning_rate: the step size eta, a number or a schedule (0.01).
      momentum: the decay of `trace` (the lectures' alpha, 0.5 rising to 0.9 or 0.99), a
        number or a schedule; None for none.
      nesterov: Nesterov's momentum instead of the heavy ball.
      accumulator_dtype: the velocity's dtype (default the params').
    """
    with validation.renamed(decay="momentum"):
        momentum_part = (
            trace(momentum, nesterov, accumulator_dtype) if momentum is not None else identity()
        )
    validation.boolean("nesterov", nesterov)
    return chain(momentum_part, scale_by_learning_rate(learning_rate))


def noisy_sgd(
    learning_rate: ScalarOrSchedule = 0.01,
    eta: float = 0.01,
    gamma: float = 0.55,
    key: Any = None,
    *,
    seed: int | None = None,
) -> GradientTransformation:
    """SGD with annealed Gaussian gradient noise (Neelakantan et al. 2015):
    `chain(add_noise, scale_by_learning_rate)`.

    Args:
      learning_rate: the step size, a number or a schedule (0.01).
      eta: the noise variance at the first step; it decays as `eta / t**gamma` (0.01).
      gamma: the decay exponent of the variance (0.55, the paper's).
      key: an int seed or a PRNG key for the noise (None: seed 0).
      seed: optax's older keyword for an int seed (give `key` or `seed`, not both).
    """
    return chain(add_noise(eta, gamma, key, seed=seed), scale_by_learning_rate(learning_rate))
