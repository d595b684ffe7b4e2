"""optax's optimizers that choose their step size: the stochastic Polyak step, Fromage's
relative steps, and optimistic gradient descent."""

from __future__ import annotations

import jax.numpy as jnp

from _descent import validation
from optim._core.base import GradientTransformation, ScalarOrSchedule
from optim._core.combine import chain
from optim.aliases.gradient_descent import sgd
from optim.transforms.block_norms import shrink_params
from optim.transforms.layerwise import scale_by_trust_ratio
from optim.transforms.optimistic import scale_by_optimistic_gradient
from optim.transforms.polyak import scale_by_polyak
from optim.transforms.scaling import scale_by_learning_rate


def polyak_sgd(
    max_learning_rate: float = 1.0,
    scaling: ScalarOrSchedule = 1.0,
    f_min: float = 0.0,
    eps: float = 0.0,
    variant: str = "sps",
) -> GradientTransformation:
    """SGD with the stochastic Polyak step (Loizou et al. 2021, SPS_max): `chain(sgd(scaling),
    scale_by_polyak(f_min, max_learning_rate, eps, variant))`, as optax's (the Polyak step is
    computed from the norm of the `-scaling * g` that sgd passes on). Pass `value=loss` to
    `update`."""
    with validation.renamed(learning_rate="scaling"):
        descent = sgd(learning_rate=scaling)
    return chain(
        descent,
        scale_by_polyak(f_min=f_min, max_learning_rate=max_learning_rate, eps=eps,
                        variant=variant),
    )


def _fromage_factor(learning_rate):
    """1 / sqrt(1 + learning_rate**2), of a number or of a schedule."""
    if callable(learning_rate):
        return lambda count: 1 / jnp.sqrt(1 + jnp.asarray(learning_rate(count)) ** 2)
    return 1 / (1 + learning_rate**2) ** 0.5


def fromage(learning_rate: ScalarOrSchedule, min_norm: float = 1e-6) -> GradientTransformation:
    """Fromage (Bernstein, Vahdat, Yue & Liu 2020, "On the distance between two neural
    networks and the stability of learning", Algorithm 1), leaf by leaf:

        w <- (w - learning_rate * ||w|| / ||g|| * g) / sqrt(1 + learning_rate**2)

    `chain(scale_by_trust_ratio(min_norm), scale_by_learning_rate(learning_rate * c),
    shrink_params(1 - c))` with c = 1 / sqrt(1 + learning_rate**2), as optax's."""
    validation.non_negative("learning_rate", learning_rate)
    factor = _fromage_factor(learning_rate)
    if callable(learning_rate):
        rate = lambda count: factor(count) * learning_rate(count)  # noqa: E731
        shrink = lambda count: 1 - factor(count)  # noqa: E731
    else:
        rate, shrink = learning_rate * factor, 1 - factor
    return chain(
        scale_by_trust_ratio(min_norm),
        scale_by_learning_rate(rate),
        shrink_params(shrink),
    )


def optimistic_gradient_descent(
    learning_rate: ScalarOrSchedule, alpha: float = 1.0, beta: float = 1.0
) -> GradientTransformation:
    """Optimistic gradient descent (Daskalakis et al. 2018, eq. 5 for alpha = beta = 1):
    `chain(scale_by_optimistic_gradient(alpha, beta), scale_by_learning_rate)`, as optax's."""
    return chain(
        scale_by_optimistic_gradient(alpha=alpha, beta=beta),
        scale_by_learning_rate(learning_rate),
    )
