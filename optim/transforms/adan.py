"""Adan: adaptive Nesterov momentum from gradient differences (Xie et al. 2022, "Adan:
Adaptive Nesterov Momentum Algorithm for Faster Optimizing Deep Models", Algorithm 1)."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from _descent import validation
from optim._core.base import GradientTransformation, ScalarOrSchedule, elementwise
from optim._core.precision import moments_like
from optim._core.steps import safe_increment, step_counter, value_at
from optim._core.structure import check_state, check_updates
from optim.tree import bias_correction, tree_cast_like, update_moment


class ScaleByAdanState(NamedTuple):
    """optax's field names: `m`, `v`, `n` the three moments, `g` the last gradient, `t` the
    step count (int32, saturating)."""

    m: Any
    v: Any
    n: Any
    g: Any
    t: jax.Array


def scale_by_adan(
    b1: ScalarOrSchedule = 0.98,
    b2: ScalarOrSchedule = 0.92,
    b3: ScalarOrSchedule = 0.99,
    eps: float = 1e-8,
    eps_root: float = 0.0,
) -> GradientTransformation:
    """Adan's scaling (Xie et al. 2022, Algorithm 1, with optax's debiasing):

        d_t = g_t - g_{t-1}            (d_1 = 0)
        m_t = b1 * m_{t-1} + (1 - b1) * g_t
        v_t = b2 * v_{t-1} + (1 - b2) * d_t
        n_t = b3 * n_{t-1} + (1 - b3) * (g_t + (1 - b2) * d_t)**2
        u_t = (m^_t + (1 - b2) * v^_t) / (sqrt(n^_t + eps_root) + eps)

    where x^_t = x_t / (1 - b**t). The paper writes the decays as `1 - beta`; b1, b2, b3 here
    are optax's (and the paper's code's) 0.98, 0.92, 0.99. The second moment saturates at the
    dtype's largest value. The paper's proximal weight decay is left to the alias (`adan`),
    which decays decoupled, as optax's.
    """
    for name, value in (("b1", b1), ("b2", b2), ("b3", b3)):
        validation.decay_rate(name, value)
    validation.non_negative("eps", eps)
    validation.non_negative("eps_root", eps_root)

    def init(params):
        # A buffer of its own per field (an optimizer may donate its state).
        return ScaleByAdanState(*(moments_like(params) for _ in range(4)), step_counter())

    def update(updates, state, params=None, **extra):
        check_state(state, ScaleByAdanState, "scale_by_adan")
        check_updates(updates, state.m, "state.m")
        beta1, beta2, beta3 = (value_at(b, state.t) for b in (b1, b2, b3))
        e, e_root = value_at(eps, state.t), value_at(eps_root, state.t)
        g = tree_cast_like(updates, state.m)
        diff = jax.tree.map(lambda now, last: jnp.where(state.t == 0, 0, now - last), g, state.g)
        m = update_moment(g, state.m, beta1, 1)
        v = update_moment(diff, state.v, beta2, 1)
        corrected = jax.tree.map(lambda x, d: x + (1 - beta2) * d, g, diff)
        n = update_moment(corrected, state.n, beta3, 2)
        t = safe_increment(state.t)
        out = jax.tree.map(
            lambda u, m_hat, v_hat, n_hat: (
                (m_hat + (1 - beta2) * v_hat) / (jnp.sqrt(n_hat + e_root) + e)
            ).astype(u.dtype),
            updates,
            bias_correction(m, beta1, t),
            bias_correction(v, beta2, t),
            bias_correction(n, beta3, t),
        )
        return out, ScaleByAdanState(m, v, n, g, t)

    return elementwise(GradientTransformation(init, update))
