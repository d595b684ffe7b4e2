"""AdEMAMix and its simplified form (Pagliardini et al. 2024, "The AdEMAMix Optimizer: Better,
Faster, Older"): Adam's update plus a second, much slower momentum that remembers old gradients.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from _descent import validation
from optim._core.base import GradientTransformation, ScalarOrSchedule, elementwise
from optim._core.combine import chain
from optim._core.masks import MaskOrFn
from optim._core.precision import check_state_dtype, moments_like
from optim._core.steps import safe_increment, step_counter, value_at
from optim._core.structure import check_state, check_updates
from optim.transforms.adam import check_betas
from optim.transforms.regularization import add_decayed_weights
from optim.transforms.scaling import scale_by_learning_rate
from optim.tree import bias_correction, tree_cast, update_moment


class ScaleByAdemamixState(NamedTuple):
    count: jax.Array
    count_m2: jax.Array  # the steps of the slow momentum, the count its schedules are called at
    m1: Any  # the fast momentum (decay b1)
    m2: Any  # the slow momentum (decay b3)
    nu: Any  # the second moment (decay b2)


def scale_by_ademamix(
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    b3: ScalarOrSchedule = 0.9999,
    alpha: ScalarOrSchedule = 6.0,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    mu_dtype: Any = None,
) -> GradientTransformation:
    """AdEMAMix's scaling (Pagliardini et al. 2024, Algorithm 1).

        m1_t = b1 * m1_{t-1} + (1 - b1) * g_t            (fast, debiased)
        m2_t = b3 * m2_{t-1} + (1 - b3) * g_t            (slow, not debiased)
        nu_t = b2 * nu_{t-1} + (1 - b2) * g_t**2
        u_t  = (m1_t / (1 - b1**t) + alpha * m2_t) / (sqrt(nu_t / (1 - b2**t) + eps_root) + eps)

    `b3` and `alpha` may be schedules of `count_m2` (the paper warms both up over its
    `T_alpha_beta3` steps, e.g. `schedules.linear_warmup`). Defaults as optax's: this
    transform's alpha is 6.0, `ademamix`'s 5.0 (the paper tries 4 to 10). `mu_dtype` sets the
    dtype of all three moments, as optax's.
    """
    check_betas(b1, b2)
    validation.decay_rate("b3", b3)
    validation.in_range("alpha", alpha)
    validation.non_negative("eps", eps)
    validation.non_negative("eps_root", eps_root)
    check_state_dtype("mu_dtype", mu_dtype)

    def init(params):
        return ScaleByAdemamixState(
            step_counter(), step_counter(), moments_like(params, mu_dtype),
            moments_like(params, mu_dtype), moments_like(params, mu_dtype),
        )

    def update(updates, state, params=None, **extra):
        check_state(state, ScaleByAdemamixState, "scale_by_ademamix")
        check_updates(updates, state.m1, "state.m1")
        beta1, beta2 = value_at(b1, state.count), value_at(b2, state.count)
        beta3, a = value_at(b3, state.count_m2), value_at(alpha, state.count_m2)
        e, e_root = value_at(eps, state.count), value_at(eps_root, state.count)
        count = safe_increment(state.count)
        m1 = update_moment(updates, state.m1, beta1, 1)
        m2 = update_moment(updates, state.m2, beta3, 1)
        nu = update_moment(updates, state.nu, beta2, 2)
        out = jax.tree.map(
            lambda g, fast, slow, v: ((fast + a * slow) / (jnp.sqrt(v + e_root) + e)).astype(
                g.dtype),
            updates,
            bias_correction(m1, beta1, count),
            m2,
            bias_correction(nu, beta2, count),
        )
        new = ScaleByAdemamixState(
            count, safe_increment(state.count_m2), tree_cast(m1, mu_dtype),
            tree_cast(m2, mu_dtype), tree_cast(nu, mu_dtype),
        )
        return out, new

    return elementwise(GradientTransformation(init, update))


def ademamix(
    learning_rate: ScalarOrSchedule,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    b3: ScalarOrSchedule = 0.9999,
    alpha: ScalarOrSchedule = 5.0,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    mu_dtype: Any = None,
    weight_decay: ScalarOrSchedule = 0.0,
    mask: MaskOrFn = None,
) -> GradientTransformation:
    """AdEMAMix: `chain(scale_by_ademamix, add_decayed_weights(weight_decay, mask),
    scale_by_learning_rate)`; the weight decay is decoupled and scaled by the learning rate."""
    return chain(
        scale_by_ademamix(b1, b2, b3, alpha, eps, eps_root, mu_dtype),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )


class ScaleBySimplifiedAdEMAMixState(NamedTuple):
    t: jax.Array  # the step count (optax's name)
    m: Any  # the momentum, an undamped sum: g_t + b1 * m_{t-1}
    n: Any  # the second moment


def scale_by_simplified_ademamix(
    b1: ScalarOrSchedule = 0.99,
    b2: ScalarOrSchedule = 0.95,
    alpha: ScalarOrSchedule = 0.0,
    eps: float = 1e-8,
    eps_root: float = 0.0,
) -> GradientTransformation:
    """Simplified AdEMAMix (Pagliardini et al. 2024, Section 3.3 and Algorithm 2): one
    momentum, undamped, plus `alpha` times the current gradient.

        m_t = b1 * m_{t-1} + g_t                     (no (1 - b1): a weighted sum)
        n_t = b2 * n_{t-1} + (1 - b2) * g_t**2
        u_t = (m_t + alpha * g_t) / (sqrt(n_t / (1 - b2**t) + eps_root) + eps)

    `alpha` may be a schedule of the count `t`. Defaults from optax (b1 = 0.99, b2 = 0.95,
    alpha = 0: a heavy-ball Adam).
    """
    check_betas(b1, b2)
    validation.in_range("alpha", alpha)
    validation.non_negative("eps", eps)
    validation.non_negative("eps_root", eps_root)

    def init(params):
        return ScaleBySimplifiedAdEMAMixState(
            step_counter(), moments_like(params), moments_like(params)
        )

    def update(updates, state, params=None, **extra):
        check_state(state, ScaleBySimplifiedAdEMAMixState, "scale_by_simplified_ademamix")
        check_updates(updates, state.m, "state.m")
        beta1, beta2 = value_at(b1, state.t), value_at(b2, state.t)
        a = value_at(alpha, state.t)
        e, e_root = value_at(eps, state.t), value_at(eps_root, state.t)
        t = safe_increment(state.t)
        m = jax.tree.map(
            lambda g, old: (beta1 * old + g.astype(old.dtype)).astype(old.dtype), updates,
            state.m,
        )
        n = update_moment(updates, state.n, beta2, 2)
        out = jax.tree.map(
            lambda g, mom, v: ((mom + a * g.astype(mom.dtype)) / (jnp.sqrt(v + e_root) + e)
                               ).astype(g.dtype),
            updates,
            m,
            bias_correction(n, beta2, t),
        )
        return out, ScaleBySimplifiedAdEMAMixState(t, m, n)

    return elementwise(GradientTransformation(init, update))


def simplified_ademamix(
    learning_rate: ScalarOrSchedule,
    b1: ScalarOrSchedule = 0.99,
    b2: ScalarOrSchedule = 0.95,
    alpha: ScalarOrSchedule = 0.0,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    weight_decay: ScalarOrSchedule = 0.0,
    mask: MaskOrFn = None,
) -> GradientTransformation:
    """Simplified AdEMAMix: `chain(scale_by_simplified_ademamix, add_decayed_weights,
    scale_by_learning_rate)`."""
    return chain(
        scale_by_simplified_ademamix(b1, b2, alpha, eps, eps_root),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )
