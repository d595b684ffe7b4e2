"""Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms")."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from optim import validate
from optim.base import GradientTransformation, ScalarOrSchedule
from optim.tree import (
    check_same_structure,
    safe_increment,
    step_counter,
    tree_cast,
    tree_zeros_like,
    update_moment,
    value_at,
)


class ScaleByLionState(NamedTuple):
    count: jax.Array
    mu: Any


def scale_by_lion(
    b1: ScalarOrSchedule = 0.9, b2: ScalarOrSchedule = 0.99, mu_dtype: Any = None
) -> GradientTransformation:
    """Lion's sign of an interpolated momentum (Chen et al. 2023, Algorithm 2).

        u_t = sign(b1 * m_{t-1} + (1 - b1) * g_t)
        m_t = b2 * m_{t-1} + (1 - b2) * g_t                 (m_0 = 0)

    Every coordinate moves by exactly the learning rate, so Lion wants a learning rate 3-10x
    smaller than AdamW's (and a weight decay that much larger). Defaults from the paper
    (b1 = 0.9, b2 = 0.99), as optax.
    """
    validate.decay_rate("b1", b1)
    validate.decay_rate("b2", b2)

    def init(params):
        return ScaleByLionState(step_counter(), tree_zeros_like(params, mu_dtype))

    def update(updates, state, params=None, **extra):
        check_same_structure(updates, state.mu, "updates", "state.mu")
        beta1, beta2 = value_at(b1, state.count), value_at(b2, state.count)
        out = jax.tree.map(
            lambda g, m: jnp.sign(beta1 * m + (1 - beta1) * g.astype(m.dtype)).astype(g.dtype),
            updates,
            state.mu,
        )
        mu = update_moment(updates, state.mu, beta2, 1)
        return out, ScaleByLionState(safe_increment(state.count), tree_cast(mu, mu_dtype))

    return GradientTransformation(init, update)
