"""Optimistic gradient descent for games and saddle points (Daskalakis, Ilyas, Syrgkanis &
Zeng 2018, "Training GANs with Optimism"; the generalised form of Mokhtari, Ozdaglar &
Pattathil 2020)."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from _descent import validation
from optim._core.base import GradientTransformation, elementwise
from optim._core.precision import moments_like
from optim._core.steps import value_at
from optim._core.structure import check_state, check_updates
from optim.tree import tree_cast_like


class ScaleByOptimisticGradientState(NamedTuple):
    is_initial_step: jax.Array  # a boolean scalar: no previous gradient yet
    previous_gradient: Any


def scale_by_optimistic_gradient(alpha: float = 1.0, beta: float = 1.0) -> GradientTransformation:
    """The optimistic step's direction:

        u_t = (alpha + beta) * g_t - beta * g_{t-1}            (g_0 = g_1)

    so that `-learning_rate * u_t` is optimistic gradient descent; alpha = beta = 1 is
    Daskalakis et al.'s `2 g_t - g_{t-1}`. At the first step the missing previous gradient is
    the current one (u_1 = alpha * g_1), as optax's. `alpha` and `beta` are numbers (optax's).
    """
    validation.fixed_number("alpha", alpha)
    validation.in_range("alpha", alpha)
    validation.fixed_number("beta", beta)
    validation.in_range("beta", beta)

    def init(params):
        return ScaleByOptimisticGradientState(jnp.array(True), moments_like(params))

    def update(updates, state, params=None, **extra):
        check_state(state, ScaleByOptimisticGradientState, "scale_by_optimistic_gradient")
        check_updates(updates, state.previous_gradient, "state.previous_gradient")
        a, b = value_at(alpha, None), value_at(beta, None)
        g = tree_cast_like(updates, state.previous_gradient)
        out = jax.tree.map(
            lambda u, now, last: (
                (a + b) * now - b * jnp.where(state.is_initial_step, now, last)).astype(u.dtype),
            updates, g, state.previous_gradient,
        )
        return out, ScaleByOptimisticGradientState(jnp.array(False), g)

    return elementwise(GradientTransformation(init, update))
