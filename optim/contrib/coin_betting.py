"""Coin betting: COCOB-Backprop (Orabona & Tommasi 2017, "Training Deep Networks without
Learning Rates Through Coin Betting"), where each weight bets on the sign of its negative
gradient, and Mechanic (Cutkosky, Defazio & Mehta 2023, "Mechanic: A Learning Rate Tuner"),
which learns by betting a scale for the updates of any optimizer.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from _descent import validation
from _descent.dtypes import scalar_dtype
from optim._core.base import GradientTransformation, ScalarOrSchedule, elementwise
from optim._core.combine import chain, with_extra_args_support
from optim._core.masks import MaskOrFn
from optim._core.precision import moments_like
from optim._core.steps import safe_increment, step_counter
from optim._core.structure import as_transform, check_state, check_updates, require_params
from optim.transforms.regularization import add_decayed_weights
from optim.transforms.scaling import scale_by_learning_rate
from optim.tree import tree_copy, tree_global_norm, tree_unzip, tree_vdot, tree_where


class COCOBState(NamedTuple):
    init_particles: Any  # w_1, the params at init
    cumulative_gradients: Any  # theta_t = -sum_i g_i
    scale: Any  # L_t = max(eps, max_i |g_i|)
    subgradients: Any  # G_t = sum_i |g_i|
    reward: Any  # Reward_t = max(Reward_{t-1} - g_t (w_t - w_1), 0)


def scale_by_cocob(alpha: float = 100.0, eps: float = 1e-8) -> GradientTransformation:
    """COCOB-Backprop, per entry (Orabona & Tommasi 2017, Algorithm 2):

        L_t      = max(L_{t-1}, |g_t|)                 (L_0 = eps)
        G_t      = G_{t-1} + |g_t|
        Reward_t = max(Reward_{t-1} - g_t (w_t - w_1), 0)
        theta_t  = theta_{t-1} - g_t
        w_{t+1}  = w_1 + theta_t / (L_t max(G_t + L_t, alpha L_t)) * (L_t + Reward_t)
        u_t      = w_{t+1} - w_t

    The update is the move to the new params, not a direction to scale; `alpha` (100, the
    paper's) caps the early bets. Needs `params` in `update`.
    """
    validation.fixed_number("alpha", alpha)
    validation.positive("alpha", alpha)
    validation.fixed_number("eps", eps)
    validation.positive("eps", eps)

    def init(params):
        return COCOBState(
            tree_copy(params), moments_like(params), moments_like(params, value=eps),
            moments_like(params), moments_like(params),
        )

    def update(updates, state, params=None, **extra):
        check_state(state, COCOBState, "scale_by_cocob")
        check_updates(updates, state.scale, "state.scale")
        require_params(params, "scale_by_cocob")

        def one(g, w, w1, theta, big_l, big_g, reward):
            out_dtype, g = g.dtype, g.astype(theta.dtype)
            big_l = jnp.maximum(big_l, jnp.abs(g))
            big_g = big_g + jnp.abs(g)
            reward = jnp.maximum(reward - g * (w - w1), 0)
            theta = theta - g
            bet = theta / (big_l * jnp.maximum(big_g + big_l, alpha * big_l)) * (big_l + reward)
            return (w1 + bet - w).astype(out_dtype), theta, big_l, big_g, reward

        results = jax.tree.map(one, updates, params, state.init_particles,
                               state.cumulative_gradients, state.scale, state.subgradients,
                               state.reward)
        out, theta, big_l, big_g, reward = tree_unzip(results, updates, 5)
        return out, COCOBState(state.init_particles, theta, big_l, big_g, reward)

    return elementwise(GradientTransformation(init, update))


def cocob(
    learning_rate: ScalarOrSchedule = 1.0,
    alpha: float = 100.0,
    eps: float = 1e-8,
    weight_decay: ScalarOrSchedule = 0.0,
    mask: MaskOrFn = None,
) -> GradientTransformation:
    """COCOB: `chain(add_decayed_weights(weight_decay, mask),
    scale_by_learning_rate(learning_rate, flip_sign=False), scale_by_cocob(alpha, eps))`: the
    learning rate multiplies the gradients COCOB bets on (1 leaves them as they are)."""
    return chain(
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate, flip_sign=False),
        scale_by_cocob(alpha, eps),
    )


class MechanicState(NamedTuple):
    base_optimizer_state: Any
    count: jax.Array
    r: jax.Array  # the wealth won by each of the `num_betas` bettors
    m: jax.Array  # the running maximum of |h|, per bettor
    v: jax.Array  # the discounted sum of h**2, per bettor
    s: jax.Array  # each bettor's scale; the updates are scaled by their sum
    x0: Any  # the params at the first step


def mechanize(
    base_optimizer: GradientTransformation,
    weight_decay: float = 1e-2,
    eps: float = 1e-8,
    s_init: float = 1e-6,
    num_betas: int = 6,
) -> GradientTransformation:
    """Mechanic around `base_optimizer` (Cutkosky et al. 2023, Algorithm 1), with
    beta_j = 1 - 0.1**j (j = 1 .. num_betas) and S = sum_j s_j:

        Delta_t = (x_0 - x_t) / S_{t-1} - base_update_t       (the base optimizer's path)
        h_t     = <g_t + weight_decay S_{t-1} ||g_t|| / ||x_t|| x_t, Delta_{t-1}>
        m_t     = max(beta m_{t-1}, |h_t| + eps)
        v_t     = beta**2 v_{t-1} + h_t**2
        r_t     = beta r_{t-1} + clip(h_t, -m_{t-1}, m_{t-1}) s_{t-1}
        s_t     = (s_init / num_betas * m_t + max(r_t, 0)) / (sqrt(v_t) + eps)
        x_{t+1} = x_0 - S_t Delta_t,      u_t = x_{t+1} - x_t

    (`eps` is also added to S and to ||x_t|| in the divisions, as optax's.) The weight decay
    enters only the bet, not the base optimizer. Keyword extras are passed to the base
    optimizer. Needs `params` in `update`.
    """
    base = with_extra_args_support(as_transform(base_optimizer, "base_optimizer"))
    for name, value in (("weight_decay", weight_decay), ("eps", eps)):
        validation.fixed_number(name, value)
        validation.non_negative(name, value)
    validation.fixed_number("s_init", s_init)
    validation.positive("s_init", s_init)
    num_betas = validation.integer("num_betas", num_betas, 1)

    def init(params):
        dtype = scalar_dtype(params)
        zeros = [jnp.zeros([num_betas], dtype) for _ in range(3)]  # a buffer of its own each
        return MechanicState(
            base.init(params), step_counter(), *zeros,
            jnp.full([num_betas], s_init, dtype), tree_copy(params),
        )

    def update(updates, state, params=None, **extra):
        check_state(state, MechanicState, "mechanize")
        check_updates(updates, state.x0, "state.x0")
        require_params(params, "mechanize")
        dtype = state.s.dtype
        base_updates, base_state = base.update(updates, state.base_optimizer_state, params,
                                               **extra)
        x0 = tree_where(state.count == 0, params, state.x0)
        total = jnp.sum(state.s)
        decay = (weight_decay * total * tree_global_norm(updates)
                 / (tree_global_norm(params) + eps)).astype(dtype)
        decayed = jax.tree.map(lambda g, x: g + decay * x, updates, params)
        delta_prev = jax.tree.map(lambda x, x_start: (x_start - x) / (total + eps), params, x0)
        delta = jax.tree.map(lambda d, u: d - u, delta_prev, base_updates)
        h = tree_vdot(decayed, delta_prev).astype(dtype)
        betas = jnp.asarray([1 - 0.1**j for j in range(1, num_betas + 1)], dtype)
        m = jnp.maximum(betas * state.m, jnp.abs(h) + eps)
        v = betas**2 * state.v + h**2
        r = betas * state.r + jnp.clip(h, -state.m, state.m) * state.s
        s = (s_init / num_betas * m + jnp.maximum(r, 0)) / (jnp.sqrt(v) + eps)
        scale = jnp.sum(s)
        out = jax.tree.map(
            lambda g, x, x_start, d: (x_start - scale * d - x).astype(g.dtype),
            updates, params, x0, delta,
        )
        return out, MechanicState(base_state, safe_increment(state.count), r, m, v, s, x0)

    return GradientTransformation(init, update)
