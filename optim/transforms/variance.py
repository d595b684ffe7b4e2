"""Second-moment rules beside Adam's: Yogi's additive variance and the centred RMS (stddev).

`scale_by_yogi` keeps Adam's state (`ScaleByAdamState`, as optax), `scale_by_stddev` optax's
`ScaleByRStdDevState(mu, nu)` (with a `count` only when it debiases).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from _descent import validation
from optim._core.base import GradientTransformation, ScalarOrSchedule, elementwise
from optim._core.numerics import saturated_square
from optim._core.steps import safe_increment, step_counter, value_at
from optim._core.structure import check_state, check_updates
from optim.transforms.adam import ScaleByAdamState, check_betas
from optim.tree import bias_correction as debias
from optim.tree import tree_full_like, tree_zeros_like, update_moment


def _abs_sq(x: jax.Array) -> jax.Array:
    """|x|**2, real for a complex x."""
    return (jnp.conj(x) * x).real if jnp.iscomplexobj(x) else saturated_square(x)


def scale_by_yogi(
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: float = 1e-3,
    eps_root: float = 0.0,
    initial_accumulator_value: float = 1e-6,
) -> GradientTransformation:
    """Yogi (Zaheer et al. 2018, "Adaptive Methods for Nonconvex Optimization", Algorithm 2).

        m_t = b1 * m_{t-1} + (1 - b1) * g_t
        v_t = v_{t-1} - (1 - b2) * sign(v_{t-1} - g_t**2) * g_t**2
        u_t = m_hat_t / (sqrt(v_hat_t + eps_root) + eps)
        m_hat_t = m_t / (1 - b1**t),   v_hat_t = v_t / (1 - b2**t)
        m_0 = v_0 = initial_accumulator_value

    Adam's `v` moves towards g**2 by a multiple of `v - g**2`; Yogi's by `(1 - b2) g**2` in the
    direction of its sign, so the effective learning rate cannot grow fast when gradients
    shrink. Defaults from the paper and optax (eps = 1e-3, accumulators at 1e-6); the
    debiasing is optax's (the paper has none).
    """
    check_betas(b1, b2)
    validation.non_negative("eps", eps)
    validation.non_negative("eps_root", eps_root)
    validation.fixed_number("initial_accumulator_value", initial_accumulator_value)
    validation.non_negative("initial_accumulator_value", initial_accumulator_value)

    def init(params):
        return ScaleByAdamState(
            step_counter(),
            tree_full_like(params, initial_accumulator_value),
            tree_full_like(params, initial_accumulator_value),
        )

    def update(updates, state, params=None, **extra):
        check_state(state, ScaleByAdamState, "scale_by_yogi")
        check_updates(updates, state.nu, "state.nu")
        beta1, beta2 = value_at(b1, state.count), value_at(b2, state.count)
        e, e_root = value_at(eps, state.count), value_at(eps_root, state.count)
        count = safe_increment(state.count)
        mu = update_moment(updates, state.mu, beta1, 1)

        def variance(g, v):
            g2 = _abs_sq(g.astype(v.dtype))
            return (v - (1 - beta2) * jnp.sign(v - g2) * g2).astype(v.dtype)

        nu = jax.tree.map(variance, updates, state.nu)
        out = jax.tree.map(
            lambda g, m, v: (m / (jnp.sqrt(v + e_root) + e)).astype(g.dtype),
            updates,
            debias(mu, beta1, count),
            debias(nu, beta2, count),
        )
        return out, ScaleByAdamState(count, mu, nu)

    return elementwise(GradientTransformation(init, update))


class ScaleByRStdDevState(NamedTuple):
    mu: Any  # the moving average of the gradients
    nu: Any  # the moving average of their squares


class ScaleByRStdDevWithCountState(NamedTuple):
    count: jax.Array
    mu: Any
    nu: Any


def scale_by_stddev(
    decay: float = 0.9,
    eps: float = 1e-8,
    initial_scale: float = 0.0,
    eps_in_sqrt: bool = True,
    bias_correction: bool = False,
) -> GradientTransformation:
    """Divide by a running standard deviation of the gradients (centred RMSProp, Graves 2013,
    "Generating Sequences With Recurrent Neural Networks", eq. 38-41).

        mu_t = decay * mu_{t-1} + (1 - decay) * g_t             (mu_0 = 0)
        nu_t = decay * nu_{t-1} + (1 - decay) * g_t**2          (nu_0 = initial_scale)
        s_t  = max(nu_t - mu_t**2, 0)
        u_t  = g_t / sqrt(s_t + eps)     or, with eps_in_sqrt=False,   g_t / (sqrt(s_t) + eps)

    With `bias_correction`, mu_t and nu_t are divided by `1 - decay**t` first and the state
    counts the steps (`ScaleByRStdDevWithCountState`); without, it is optax's
    `ScaleByRStdDevState(mu, nu)`, which has no count, so `decay` is a fixed number. The
    variance is floored at 0 (optax's is not): `nu - mu**2` is a difference of rounded numbers,
    below 0 at the first debiased step, where optax's root is NaN. optax's `scale_by_stddev`.
    """
    validation.boolean("eps_in_sqrt", eps_in_sqrt)
    validation.boolean("bias_correction", bias_correction)
    validation.fixed_number("decay", decay)
    validation.decay_rate("decay", decay)
    validation.fixed_number("eps", eps)
    validation.non_negative("eps", eps)
    validation.fixed_number("initial_scale", initial_scale)
    validation.non_negative("initial_scale", initial_scale)
    debiased = bias_correction  # the flag; the function is `debias`
    state_type = ScaleByRStdDevWithCountState if debiased else ScaleByRStdDevState

    def init(params):
        mu, nu = tree_zeros_like(params), tree_full_like(params, initial_scale)
        return ScaleByRStdDevWithCountState(step_counter(), mu, nu) if debiased else (
            ScaleByRStdDevState(mu, nu))

    def update(updates, state, params=None, **extra):
        check_state(state, state_type, "scale_by_stddev")
        check_updates(updates, state.nu, "state.nu")
        rate, e = value_at(decay, None), value_at(eps, None)
        mu = update_moment(updates, state.mu, rate, 1)
        nu = update_moment(updates, state.nu, rate, 2)
        mu_hat, nu_hat = mu, nu
        if debiased:
            count = safe_increment(state.count)
            mu_hat, nu_hat = debias(mu, rate, count), debias(nu, rate, count)

        def scaled(g, m, n):
            variance = jnp.maximum(n - _abs_sq(m), 0)
            if eps_in_sqrt:
                s = jax.lax.rsqrt(variance + e)
            else:
                s = 1 / (jnp.sqrt(variance) + e)
            return (s * g).astype(g.dtype)

        out = jax.tree.map(scaled, updates, mu_hat, nu_hat)
        new = ScaleByRStdDevWithCountState(count, mu, nu) if debiased else (
            ScaleByRStdDevState(mu, nu))
        return out, new

    return elementwise(GradientTransformation(init, update))

