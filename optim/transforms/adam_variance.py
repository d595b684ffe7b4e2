"""Adam's variants that change its second moment (each scaling returns a plus-sign direction).

- AMSGrad (Reddi et al. 2018): the running maximum of the second moment;
- AdaMax (Kingma & Ba 2015, section 7.1): the infinity norm in place of the root mean square;
- RAdam (Liu et al. 2020): the variance of the adaptive step rectified while it is large;
- AdaBelief (Zhuang et al. 2020): the variance of the gradient around its prediction.

Where libraries differ, the docstring says which convention is followed and why.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from _descent import validation
from _descent.dtypes import default_float
from optim._core.base import GradientTransformation, ScalarOrSchedule, elementwise
from optim._core.precision import check_state_dtype, moments_like, real_moments_like
from optim._core.steps import safe_increment, step_counter, value_at
from optim._core.structure import check_state, check_updates
from optim.transforms.adam import check_betas
from optim.tree import (
    bias_correction as debias,
)
from optim.tree import (
    tree_cast,
    tree_cast_like,
    update_moment,
)


def first_moment_estimate(mu, updates, beta1, count, nesterov):
    """The debiased first moment `m_t / (1 - b1**t)`, or with `nesterov` Dozat's (2016)
    look-ahead form `b1 m_t / (1 - b1**(t+1)) + (1 - b1) g_t / (1 - b1**t)` (optax's)."""
    if not nesterov:
        return debias(mu, beta1, count)
    return jax.tree.map(
        lambda m_next, g_now: beta1 * m_next + (1 - beta1) * g_now,
        debias(mu, beta1, safe_increment(count)),
        debias(tree_cast_like(updates, mu), beta1, count),
    )


# --------------------------------------------------------------------------- AMSGrad


class ScaleByAmsgradState(NamedTuple):
    count: jax.Array
    mu: Any
    nu: Any
    nu_max: Any


def scale_by_amsgrad(
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    mu_dtype: Any = None,
    bias_correction_mu: bool = True,
    bias_correction_nu: bool = True,
    *,
    debias_before_max: bool = True,
) -> GradientTransformation:
    """AMSGrad (Reddi, Kale & Kumar 2018): Adam whose denominator never shrinks.

        m_t = b1 * m_{t-1} + (1 - b1) * g_t          v_t = b2 * v_{t-1} + (1 - b2) * g_t**2
        vmax_t = max(vmax_{t-1}, v_t / (1 - b2**t))                        (vmax_0 = 0)
        u_t = m_t / (1 - b1**t) / (sqrt(vmax_t + eps_root) + eps)

    The paper's Algorithm 1 has no bias correction at all; libraries add Adam's and disagree on
    where. Followed by default, optax's: the max is taken over the debiased `v^_t`, so the
    denominator (and hence each coordinate's step for a constant learning rate) is
    non-increasing, the property the convergence proof rests on. PyTorch takes the max of the
    raw `v_t` and divides it by the current `1 - b2**t` afterwards
    (`debias_before_max=False`: `u_t = m^_t / (sqrt(max_s v_s / (1 - b2**t) + eps_root) +
    eps)`), which lets the denominator shrink early on.

    `bias_correction_mu=False` leaves out the first moment's `1 - b1**t`;
    `bias_correction_nu=False` leaves out the second's, so the max is over the raw `v_t`, the
    paper's Algorithm 1 with both (optax's keywords and defaults, True both).
    """
    validation.boolean("debias_before_max", debias_before_max)
    validation.boolean("bias_correction_mu", bias_correction_mu)
    validation.boolean("bias_correction_nu", bias_correction_nu)
    check_state_dtype("mu_dtype", mu_dtype)
    check_betas(b1, b2)
    validation.non_negative("eps", eps)
    validation.non_negative("eps_root", eps_root)

    def init(params):
        mu = moments_like(params, mu_dtype)
        return ScaleByAmsgradState(step_counter(), mu, real_moments_like(params),
                                   real_moments_like(params))

    def update(updates, state, params=None, **extra):
        check_state(state, ScaleByAmsgradState, "scale_by_amsgrad")
        check_updates(updates, state.mu, "state.mu")
        beta1, beta2 = value_at(b1, state.count), value_at(b2, state.count)
        e, e_root = value_at(eps, state.count), value_at(eps_root, state.count)
        count = safe_increment(state.count)
        mu = update_moment(updates, state.mu, beta1, 1)
        nu = update_moment(updates, state.nu, beta2, 2)
        mu_hat = debias(mu, beta1, count) if bias_correction_mu else mu
        if not bias_correction_nu:
            nu_max = jax.tree.map(jnp.maximum, state.nu_max, nu)
            denominator = nu_max
        elif debias_before_max:
            nu_max = jax.tree.map(jnp.maximum, state.nu_max, debias(nu, beta2, count))
            denominator = nu_max
        else:
            nu_max = jax.tree.map(jnp.maximum, state.nu_max, nu)
            denominator = debias(nu_max, beta2, count)
        out = jax.tree.map(
            lambda g, m, v: (m / (jnp.sqrt(v + e_root) + e)).astype(g.dtype),
            updates,
            mu_hat,
            denominator,
        )
        return out, ScaleByAmsgradState(count, tree_cast(mu, mu_dtype), nu, nu_max)

    return elementwise(GradientTransformation(init, update))


# --------------------------------------------------------------------------- AdaMax


class ScaleByAdamaxState(NamedTuple):
    count: jax.Array
    mu: Any
    nu: Any  # the exponentially weighted infinity norm u_t


def scale_by_adamax(
    b1: ScalarOrSchedule = 0.9, b2: ScalarOrSchedule = 0.999, eps: float = 1e-8
) -> GradientTransformation:
    """AdaMax (Kingma & Ba 2015, Section 7.1, Algorithm 2): Adam with the infinity norm.

        m_t = b1 * m_{t-1} + (1 - b1) * g_t
        u_t = max(b2 * u_{t-1}, |g_t| + eps)                   (u_0 = 0)
        out = m_t / (1 - b1**t) / u_t

    u_t needs no bias correction. The paper has no eps; as optax, it is added to |g_t| inside
    the max so a coordinate whose gradients were all 0 gets 0, not 0/0 (PyTorch adds it the
    same way). Defaults from the paper (b1 = 0.9, b2 = 0.999; the alias's learning rate 0.002).
    """
    check_betas(b1, b2)
    validation.non_negative("eps", eps)

    def init(params):
        return ScaleByAdamaxState(step_counter(), moments_like(params), real_moments_like(params))

    def update(updates, state, params=None, **extra):
        check_state(state, ScaleByAdamaxState, "scale_by_adamax")
        check_updates(updates, state.mu, "state.mu")
        beta1, beta2 = value_at(b1, state.count), value_at(b2, state.count)
        e = value_at(eps, state.count)
        count = safe_increment(state.count)
        mu = update_moment(updates, state.mu, beta1, 1)
        nu = jax.tree.map(
            lambda g, u: jnp.maximum(beta2 * u, jnp.abs(g).astype(u.dtype) + e).astype(u.dtype),
            updates,
            state.nu,
        )
        out = jax.tree.map(
            lambda g, m, u: (m / u).astype(g.dtype), updates, debias(mu, beta1, count), nu
        )
        return out, ScaleByAdamaxState(count, mu, nu)

    return elementwise(GradientTransformation(init, update))


# --------------------------------------------------------------------------- RAdam


class ScaleByRadamState(NamedTuple):
    count: jax.Array
    mu: Any
    nu: Any


def scale_by_radam(
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    threshold: float = 5.0,
    *,
    nesterov: bool = False,
) -> GradientTransformation:
    """RAdam, rectified Adam (Liu et al. 2020, Algorithm 2).

        rho_inf = 2 / (1 - b2) - 1
        rho_t   = rho_inf - 2 t b2**t / (1 - b2**t)
        r_t     = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
        u_t     = r_t m^_t / (sqrt(v^_t + eps_root) + eps)    if rho_t >= threshold
                  m^_t                                         otherwise (momentum SGD)

    with Adam's debiased moments m^_t, v^_t. The paper switches on `rho_t > 4`; its official
    code, optax and PyTorch use 5 (the variance estimate is too noisy just above 4), followed
    here. With b2 = 0.999 the first 5 steps are momentum-SGD steps. `nesterov` replaces m^_t
    by the look-ahead `b1 m_t / (1 - b1**(t+1)) + (1 - b1) g_t / (1 - b1**t)` in both
    branches (Dozat 2016; optax's keyword, False by default).
    """
    validation.boolean("nesterov", nesterov)
    check_betas(b1, b2)
    validation.non_negative("eps", eps)
    validation.non_negative("eps_root", eps_root)
    validation.in_range("threshold", threshold, 4.0, low_open=True)

    def init(params):
        return ScaleByRadamState(step_counter(), moments_like(params), real_moments_like(params))

    def update(updates, state, params=None, **extra):
        check_state(state, ScaleByRadamState, "scale_by_radam")
        check_updates(updates, state.mu, "state.mu")
        beta1 = value_at(b1, state.count)
        beta2 = jnp.asarray(value_at(b2, state.count), default_float())
        e, e_root = value_at(eps, state.count), value_at(eps_root, state.count)
        count = safe_increment(state.count)
        t = count.astype(default_float())
        rho_inf = 2 / (1 - beta2) - 1
        b2t = beta2**t
        rho = rho_inf - 2 * t * b2t / (1 - b2t)
        rectified = rho >= threshold
        # Clamp inside the root: the unused branch must not produce NaN (and NaN gradients).
        safe_rho = jnp.where(rectified, rho, threshold)
        r = jnp.sqrt(
            (safe_rho - 4) * (safe_rho - 2) * rho_inf
            / ((rho_inf - 4) * (rho_inf - 2) * safe_rho)
        )
        mu = update_moment(updates, state.mu, beta1, 1)
        nu = update_moment(updates, state.nu, beta2, 2)
        mu_hat = first_moment_estimate(mu, updates, beta1, count, nesterov)
        nu_hat = debias(nu, beta2, count)
        out = jax.tree.map(
            lambda g, m, v: jnp.where(rectified, r * m / (jnp.sqrt(v + e_root) + e), m).astype(
                g.dtype
            ),
            updates,
            mu_hat,
            nu_hat,
        )
        return out, ScaleByRadamState(count, mu, nu)

    return elementwise(GradientTransformation(init, update))


# --------------------------------------------------------------------------- AdaBelief


class ScaleByBeliefState(NamedTuple):
    count: jax.Array
    mu: Any
    nu: Any  # s_t, the EMA of the squared prediction error (g - m)**2


def scale_by_belief(
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: float = 1e-16,
    eps_root: float = 1e-16,
    *,
    nesterov: bool = False,
) -> GradientTransformation:
    """AdaBelief (Zhuang et al. 2020, Algorithm 2): scale by the belief in the gradient.

        m_t = b1 * m_{t-1} + (1 - b1) * g_t
        s_t = b2 * s_{t-1} + (1 - b2) * (g_t - m_t)**2 + eps_root
        u_t = m_t / (1 - b1**t) / (sqrt(s_t / (1 - b2**t)) + eps)

    A step is large where the gradient agrees with its prediction m_t, small where it
    surprises. The paper's eps appears both inside s_t and outside the root (as `eps_root` and
    `eps`, both 1e-16 as in the paper and optax). `nesterov` replaces `m_t / (1 - b1**t)` by
    the look-ahead `b1 m_t / (1 - b1**(t+1)) + (1 - b1) g_t / (1 - b1**t)` (Dozat 2016;
    optax's keyword, False by default); s_t still tracks `g_t - m_t`.
    """
    validation.boolean("nesterov", nesterov)
    check_betas(b1, b2)
    validation.non_negative("eps", eps)
    validation.non_negative("eps_root", eps_root)

    def init(params):
        return ScaleByBeliefState(step_counter(), moments_like(params), moments_like(params))

    def update(updates, state, params=None, **extra):
        check_state(state, ScaleByBeliefState, "scale_by_belief")
        check_updates(updates, state.mu, "state.mu")
        beta1, beta2 = value_at(b1, state.count), value_at(b2, state.count)
        e, e_root = value_at(eps, state.count), value_at(eps_root, state.count)
        count = safe_increment(state.count)
        mu = update_moment(updates, state.mu, beta1, 1)
        surprise = jax.tree.map(lambda g, m: g.astype(m.dtype) - m, updates, mu)
        nu = jax.tree.map(
            lambda v: (v + e_root).astype(v.dtype), update_moment(surprise, state.nu, beta2, 2)
        )
        out = jax.tree.map(
            lambda g, m, s: (m / (jnp.sqrt(s) + e)).astype(g.dtype),
            updates,
            first_moment_estimate(mu, updates, beta1, count, nesterov),
            debias(nu, beta2, count),
        )
        return out, ScaleByBeliefState(count, mu, tree_cast_like(nu, state.nu))

    return elementwise(GradientTransformation(init, update))
