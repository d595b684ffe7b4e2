"""The second moment one step late: ADOPT (Taniguchi et al. 2024, "ADOPT: Modified Adam Can
Converge with Any beta2 with the Optimal Rate") and ACProp (Zhuang et al. 2021, "Momentum
Centering and Asynchronous Update for Adaptive Gradient Methods"). Each gradient is divided by
a second moment that does not contain it.

Their states are Adam's (`ScaleByAdamState(count, mu, nu)`) and AdaBelief's
(`ScaleByBeliefState(count, mu, nu)`), as optax's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from _descent import validation
from optim._core.base import GradientTransformation, ScalarOrSchedule, elementwise
from optim._core.combine import chain
from optim._core.masks import MaskOrFn
from optim._core.precision import check_state_dtype, moments_like
from optim._core.steps import safe_increment, step_counter, value_at
from optim._core.structure import check_state, check_updates
from optim.transforms.adam import ScaleByAdamState, check_betas
from optim.transforms.adam_variance import ScaleByBeliefState
from optim.transforms.regularization import add_decayed_weights
from optim.transforms.scaling import scale_by_learning_rate
from optim.tree import bias_correction, tree_cast, update_moment


def quarter_power(count: jax.Array) -> jax.Array:
    """The paper's clipping bound `c_t = t**(1/4)`, ADOPT's default `clip_value_fn`."""
    return count**0.25


def scale_by_adopt(
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.9999,
    eps: float = 1e-6,
    mu_dtype: Any = None,
    *,
    nesterov: bool = False,
    use_clipping: bool = True,
    clip_value_fn: Callable[[jax.Array], jax.Array] = quarter_power,
) -> GradientTransformation:
    """ADOPT's scaling (Taniguchi et al. 2024, Algorithm 2, with clipping).

        step 0:  v_0 = g_0**2,  m_0 = 0,  u_0 = 0          (the first gradient only sets v)
        step t:  m_t = b1 * m_{t-1} + (1 - b1) * clip(g_t / max(sqrt(v_{t-1}), eps), c_t)
                 v_t = b2 * v_{t-1} + (1 - b2) * g_t**2
                 u_t = m_t
        c_t = clip_value_fn(t) = t**(1/4)

    Dividing by `v_{t-1}`, which does not contain `g_t`, is what lets ADOPT converge for any
    b2; the momentum is taken after the division, not before as in Adam, and there is no bias
    correction. `use_clipping=False` drops the clip (the paper's Algorithm 1). With
    `nesterov`, `u_t = b1 * m_t + (1 - b1) * clip(...)` (optax's option; not in the paper).
    Defaults from the paper and optax (b2 = 0.9999, eps = 1e-6). `mu_dtype` sets the first
    moment's dtype.
    """
    check_betas(b1, b2)
    validation.non_negative("eps", eps)
    check_state_dtype("mu_dtype", mu_dtype)
    validation.boolean("nesterov", nesterov)
    validation.boolean("use_clipping", use_clipping)
    if not callable(clip_value_fn):
        raise TypeError(f"clip_value_fn must be a callable step -> bound, got {clip_value_fn!r}")

    def init(params):
        return ScaleByAdamState(
            step_counter(), moments_like(params, mu_dtype), moments_like(params)
        )

    def update(updates, state, params=None, **extra):
        check_state(state, ScaleByAdamState, "scale_by_adopt")
        check_updates(updates, state.mu, "state.mu")
        first = state.count == 0
        beta1 = value_at(b1, state.count)
        beta2 = jnp.where(first, 0.0, value_at(b2, state.count))
        e = value_at(eps, state.count)

        def normalized(g, v):
            n = g.astype(v.dtype) / jnp.maximum(jnp.sqrt(v), e)
            if use_clipping:
                bound = clip_value_fn(state.count)
                n = jnp.clip(n, -bound, bound)
            return n

        steps = jax.tree.map(normalized, updates, state.nu)
        moved = update_moment(steps, state.mu, beta1, 1)
        # The first step only measures v: the momentum stays 0 (g_0 / eps is never used).
        mu = jax.tree.map(lambda new, old: jnp.where(first, old, new), moved, state.mu)
        nu = update_moment(updates, state.nu, beta2, 2)
        if nesterov:
            ahead = update_moment(steps, mu, beta1, 1)
            direction = jax.tree.map(lambda new, old: jnp.where(first, old, new), ahead, mu)
        else:
            direction = mu
        out = jax.tree.map(lambda g, d: d.astype(g.dtype), updates, direction)
        return out, ScaleByAdamState(safe_increment(state.count), tree_cast(mu, mu_dtype), nu)

    return elementwise(GradientTransformation(init, update))


def adopt(
    learning_rate: ScalarOrSchedule,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.9999,
    eps: float = 1e-6,
    mu_dtype: Any = None,
    *,
    nesterov: bool = False,
    use_clipping: bool = True,
    clip_value_fn: Callable[[jax.Array], jax.Array] = quarter_power,
) -> GradientTransformation:
    """ADOPT: `chain(scale_by_adopt(...), scale_by_learning_rate(learning_rate))`."""
    return chain(
        scale_by_adopt(
            b1, b2, eps, mu_dtype,
            nesterov=nesterov, use_clipping=use_clipping, clip_value_fn=clip_value_fn,
        ),
        scale_by_learning_rate(learning_rate),
    )


def scale_by_acprop(
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: float = 1e-16,
    eps_root: float = 1e-16,
) -> GradientTransformation:
    """ACProp's scaling, in optax's form (Zhuang et al. 2021, Algorithm 2):

        m_t = b1 * m_{t-1} + (1 - b1) * g_t
        s_t = b2 * s_{t-1} + (1 - b2) * (g_t - m_{t-1})**2 + eps_root
        u_t = g_t / (sqrt(s_{t-1} / (1 - b2**(t-1))) + eps)       (u_1 = g_1 / (1 + eps))

    The denominator is the second moment of the steps before, which does not contain g_t
    (the asynchronous update). This is optax's rule, followed so that the trajectories agree:
    the numerator is the gradient g_t itself (the momentum m_t is kept in the state but not
    applied) and the prediction error is taken against m_{t-1}. Defaults from the paper and
    optax (both eps 1e-16).
    """
    check_betas(b1, b2)
    validation.non_negative("eps", eps)
    validation.non_negative("eps_root", eps_root)

    def init(params):
        return ScaleByBeliefState(step_counter(), moments_like(params), moments_like(params))

    def update(updates, state, params=None, **extra):
        check_state(state, ScaleByBeliefState, "scale_by_acprop")
        check_updates(updates, state.mu, "state.mu")
        beta1, beta2 = value_at(b1, state.count), value_at(b2, state.count)
        e, e_root = value_at(eps, state.count), value_at(eps_root, state.count)
        first = state.count == 0
        mu = update_moment(updates, state.mu, beta1, 1)
        surprise = jax.tree.map(lambda g, m: g.astype(m.dtype) - m, updates, state.mu)
        nu = jax.tree.map(lambda v: (v + e_root).astype(v.dtype),
                          update_moment(surprise, state.nu, beta2, 2))
        # Debiasing by 1 - b2**0 = 0 would divide by 0 at the first step, where s_0 is unused.
        previous = bias_correction(state.nu, beta2, jnp.where(first, 1, state.count))
        out = jax.tree.map(
            lambda g, s: (g / (jnp.sqrt(jnp.where(first, 1, s)) + e)).astype(g.dtype),
            updates, previous,
        )
        return out, ScaleByBeliefState(safe_increment(state.count), mu, nu)

    return elementwise(GradientTransformation(init, update))


def acprop(
    learning_rate: ScalarOrSchedule,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: float = 1e-16,
    eps_root: float = 1e-16,
    weight_decay: ScalarOrSchedule = 0.0,
    mask: MaskOrFn = None,
) -> GradientTransformation:
    """ACProp: `chain(scale_by_acprop, add_decayed_weights(weight_decay, mask),
    scale_by_learning_rate)`."""
    return chain(
        scale_by_acprop(b1, b2, eps, eps_root),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )
