"""NovoGrad: layer-wise second moments (Ginsburg et al. 2019, "Stochastic Gradient Methods
with Layer-wise Adaptive Moments for Training of Deep Networks", Algorithm 1)."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from _descent import validation
from optim._core.base import GradientTransformation, ScalarOrSchedule
from optim._core.numerics import saturate
from optim._core.precision import check_state_dtype, moment_dtype, moments_like
from optim._core.steps import safe_increment, step_counter, value_at
from optim._core.structure import check_state, check_updates, require_params
from optim.tree import tree_cast, tree_sum_of_squares


class ScaleByNovogradState(NamedTuple):
    count: jax.Array
    mu: Any  # the first moment, one array per leaf
    nu: Any  # the second moment, one scalar per leaf (a layer's squared gradient norm)


def scale_by_novograd(
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.25,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    weight_decay: ScalarOrSchedule = 0.0,
    mu_dtype: Any = None,
) -> GradientTransformation:
    """NovoGrad's scaling, leaf by leaf (a "layer" is one leaf of the params):

        nu_t = b2 * nu_{t-1} + (1 - b2) * ||g_t||**2           (nu_1 = ||g_1||**2)
        mu_t = b1 * mu_{t-1} + g_t / (sqrt(nu_t + eps_root) + eps) + weight_decay * w_t
                                                               (mu_1 without the b1 term)
        u_t  = mu_t

    The first moment adds the normalised gradient without a `(1 - b1)` factor, as the paper.
    eps is outside the root, as optax's (the paper has it inside: `eps_root`). Defaults from
    the paper and optax (b1 = 0.9, b2 = 0.25). `mu_dtype` sets the first moment's dtype. The
    params are needed when `weight_decay` is not a literal 0.
    """
    check_state_dtype("mu_dtype", mu_dtype)
    validation.decay_rate("b1", b1)
    validation.decay_rate("b2", b2)
    validation.non_negative("eps", eps)
    validation.non_negative("eps_root", eps_root)
    validation.non_negative("weight_decay", weight_decay)
    decays = not (isinstance(weight_decay, (int, float)) and weight_decay == 0)

    def init(params):
        nu = jax.tree.map(lambda p: jnp.zeros([], moment_dtype(p)), params)
        return ScaleByNovogradState(step_counter(), moments_like(params, mu_dtype), nu)

    def update(updates, state, params=None, **extra):
        check_state(state, ScaleByNovogradState, "scale_by_novograd")
        check_updates(updates, state.mu, "state.mu")
        if decays:
            require_params(params, "scale_by_novograd (with weight_decay)")
        beta1, beta2 = value_at(b1, state.count), value_at(b2, state.count)
        e, e_root = value_at(eps, state.count), value_at(eps_root, state.count)
        decay = value_at(weight_decay, state.count)
        first = state.count == 0
        count = safe_increment(state.count)

        def second(g, n):
            square = tree_sum_of_squares(g).astype(n.dtype)
            return saturate(jnp.where(first, square, beta2 * n + (1 - beta2) * square)).astype(
                n.dtype)

        nu = jax.tree.map(second, updates, state.nu)

        def moment(g, m, n, w):
            step = g.astype(m.dtype) / (jnp.sqrt(n + e_root) + e)
            if decays:
                step = step + decay * w.astype(m.dtype)
            return jnp.where(first, step, beta1 * m + step).astype(m.dtype)

        mu = jax.tree.map(moment, updates, state.mu, nu, params if decays else updates)
        out = jax.tree.map(lambda g, m: m.astype(g.dtype), updates, mu)
        return out, ScaleByNovogradState(count, tree_cast(mu, mu_dtype), nu)

    return GradientTransformation(init, update)
