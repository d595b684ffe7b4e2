"""Sign-based transforms: the sign of the gradient, Rprop, per-weight adaptive gains, Lion.

Each reads the gradient's sign rather than its size: signSGD takes it as the step, Rprop and
the lecture's adaptive gains grow or shrink a step size per weight by whether the sign holds,
and Lion (Chen et al. 2023) steps by the sign of an interpolated momentum. Complex numbers have no
sign: these take real params and gradients only (a TypeError names the complex leaf).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from _descent import validation
from optim._core.base import EmptyState, GradientTransformation, ScalarOrSchedule, elementwise
from optim._core.precision import check_state_dtype
from optim._core.steps import safe_increment, step_counter, value_at
from optim._core.structure import check_real, check_state, check_update_dtypes, check_updates
from optim.tree import tree_cast, tree_full_like, tree_unzip, tree_zeros_like, update_moment


def sign() -> GradientTransformation:
    """`u <- sign(g)`, entry by entry (signSGD, Bernstein et al. 2018)."""

    def update(updates, state, params=None, **extra):
        check_update_dtypes(updates, params)
        check_real(updates, "sign", "updates")
        return jax.tree.map(jnp.sign, updates), state

    return elementwise(GradientTransformation(lambda params: EmptyState(), update))


class ScaleByRpropState(NamedTuple):
    count: jax.Array
    step_sizes: Any
    prev_grads: Any  # the last gradient, zeroed where its sign flipped (iRprop-)


def scale_by_rprop(
    learning_rate: float = 0.01,
    eta_minus: float = 0.5,
    eta_plus: float = 1.2,
    min_step_size: float = 1e-6,
    max_step_size: float = 50.0,
) -> GradientTransformation:
    """iRprop- (Igel & Hüsken 2000; Riedmiller & Braun 1993): a step size per weight, from signs.

        p = g_t * g_{t-1}
        step_t = min(step_{t-1} * eta_plus, max_step_size)    where p > 0
                 max(step_{t-1} * eta_minus, min_step_size)   where p < 0
                 step_{t-1}                                    elsewhere   (step_0 = learning_rate)
        u_t = 0 where p < 0 (the flipped coordinate skips this step), else step_t * sign(g_t)
        and g_t is remembered as 0 where p < 0, so the next step does not count a flip twice.

    Returned with a plus sign; the `rprop` alias flips it. The update of step t uses step t's
    own gradient (optax 0.2.8 returns the previous step's, one step late). Defaults from the
    paper and PyTorch (eta- = 0.5, eta+ = 1.2, steps in [1e-6, 50], initial step 0.01).
    """
    validation.fixed_number("learning_rate", learning_rate)
    validation.positive("learning_rate", learning_rate)
    validation.fixed_number("eta_minus", eta_minus)
    validation.in_range("eta_minus", eta_minus, 0.0, 1.0, low_open=True, high_open=True)
    validation.fixed_number("eta_plus", eta_plus)
    validation.in_range("eta_plus", eta_plus, 1.0, low_open=True)
    validation.fixed_number("min_step_size", min_step_size)
    validation.positive("min_step_size", min_step_size)
    validation.fixed_number("max_step_size", max_step_size)
    validation.in_range("max_step_size", max_step_size, min_step_size)

    def init(params):
        check_real(params, "scale_by_rprop")
        return ScaleByRpropState(
            step_counter(), tree_full_like(params, learning_rate), tree_zeros_like(params)
        )

    def update(updates, state, params=None, **extra):
        check_state(state, ScaleByRpropState, "scale_by_rprop")
        check_updates(updates, state.step_sizes, "state.step_sizes")
        up, down = value_at(eta_plus, None), value_at(eta_minus, None)
        low, high = value_at(min_step_size, None), value_at(max_step_size, None)

        def one(g, prev, step):
            # Signs, not values: the product of two tiny gradients underflows to 0.
            agreement = jnp.sign(g) * jnp.sign(prev).astype(g.dtype)
            step = jnp.where(
                agreement > 0,
                jnp.minimum(step * up, high),
                jnp.where(agreement < 0, jnp.maximum(step * down, low), step),
            ).astype(step.dtype)
            kept = jnp.where(agreement < 0, jnp.zeros_like(g), g)
            return (step * jnp.sign(kept)).astype(g.dtype), kept.astype(prev.dtype), step

        results = jax.tree.map(one, updates, state.prev_grads, state.step_sizes)
        out, kept, steps = tree_unzip(results, updates, 3)
        return out, ScaleByRpropState(safe_increment(state.count), steps, kept)

    return elementwise(GradientTransformation(init, update))


class ScaleByAdaptiveGainsState(NamedTuple):
    count: jax.Array
    gains: Any
    prev_grads: Any


def scale_by_adaptive_gains(
    increase: float = 0.05,
    decrease: float = 0.95,
    min_gain: float = 0.01,
    max_gain: float = 100.0,
) -> GradientTransformation:
    """Per-weight gains (Hinton, Neural Networks for Machine Learning, lecture 6d; Jacobs 1988).

        p = g_t * g_{t-1}
        gain_t = gain_{t-1} + increase    where p > 0  (the gradient kept its sign)
                 gain_{t-1} * decrease    where p < 0  (it flipped)
                 gain_{t-1}               where p = 0  (no sign to compare: the first step)
        gain_t clipped to [min_gain, max_gain]                               (gain_0 = 1)
        u_t = gain_t * g_t

    Additive increase and multiplicative decrease, so big gains decay fast when oscillations
    start. The lecture's rule puts p = 0 with the flips; a zero product carries no sign
    information, so it leaves the gain as it is here. The lecture advises bounding the gains
    to a range such as [0.1, 10] or [0.01, 100].
    """
    validation.fixed_number("increase", increase)
    validation.positive("increase", increase)
    validation.fixed_number("decrease", decrease)
    validation.in_range("decrease", decrease, 0.0, 1.0, low_open=True, high_open=True)
    validation.fixed_number("min_gain", min_gain)
    validation.positive("min_gain", min_gain)
    validation.fixed_number("max_gain", max_gain)
    validation.in_range("max_gain", max_gain, 1.0)
    validation.in_range("min_gain", min_gain, 0.0, 1.0, low_open=True)

    def init(params):
        check_real(params, "scale_by_adaptive_gains")
        return ScaleByAdaptiveGainsState(
            step_counter(), tree_full_like(params, 1.0), tree_zeros_like(params)
        )

    def update(updates, state, params=None, **extra):
        check_state(state, ScaleByAdaptiveGainsState, "scale_by_adaptive_gains")
        check_updates(updates, state.gains, "state.gains")
        plus, times = value_at(increase, None), value_at(decrease, None)
        low, high = value_at(min_gain, None), value_at(max_gain, None)

        def gain(g, prev, old):
            agreement = jnp.sign(g) * jnp.sign(prev).astype(g.dtype)
            new = jnp.where(agreement > 0, old + plus, jnp.where(agreement < 0, old * times, old))
            return jnp.clip(new, low, high).astype(old.dtype)

        gains = jax.tree.map(gain, updates, state.prev_grads, state.gains)
        out = jax.tree.map(lambda g, k: (k * g).astype(g.dtype), updates, gains)
        prev = jax.tree.map(lambda g, p: g.astype(p.dtype), updates, state.prev_grads)
        return out, ScaleByAdaptiveGainsState(safe_increment(state.count), gains, prev)

    return elementwise(GradientTransformation(init, update))


class ScaleByLionState(NamedTuple):
    count: jax.Array
    mu: Any


def scale_by_lion(
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.99,
    mu_dtype: Any = None,
    *,
    mode: str = "hard",
    smooth_beta: float = 1.0,
) -> GradientTransformation:
    """Lion's sign of an interpolated momentum (Chen et al. 2023, Algorithm 2).

        u_t = sign(b1 * m_{t-1} + (1 - b1) * g_t)
        m_t = b2 * m_{t-1} + (1 - b2) * g_t                 (m_0 = 0)

    Every coordinate moves by exactly the learning rate, so Lion wants a learning rate 3-10x
    smaller than AdamW's (and a weight decay that much larger). Defaults from the paper
    (b1 = 0.9, b2 = 0.99), as optax. optax's `mode` replaces the sign of `x = b1 m + (1 - b1) g`:
    "hard" sign(x) (the paper's), "smooth" tanh(smooth_beta * x), "refined" x where |x| < 1
    and sign(x) elsewhere.
    """
    validation.choice("mode", mode, ("hard", "smooth", "refined"))
    validation.fixed_number("smooth_beta", smooth_beta)
    validation.finite("smooth_beta", smooth_beta)
    shape = {
        "hard": jnp.sign,
        "smooth": lambda x: jnp.tanh(smooth_beta * x),
        "refined": lambda x: jnp.where(jnp.abs(x) < 1, x, jnp.sign(x)),
    }[mode]
    check_state_dtype("mu_dtype", mu_dtype)
    validation.decay_rate("b1", b1)
    validation.decay_rate("b2", b2)

    def init(params):
        check_real(params, "scale_by_lion")
        return ScaleByLionState(step_counter(), tree_zeros_like(params, mu_dtype))

    def update(updates, state, params=None, **extra):
        check_state(state, ScaleByLionState, "scale_by_lion")
        check_updates(updates, state.mu, "state.mu")
        beta1, beta2 = value_at(b1, state.count), value_at(b2, state.count)
        out = jax.tree.map(
            lambda g, m: shape(beta1 * m + (1 - beta1) * g.astype(m.dtype)).astype(g.dtype),
            updates,
            state.mu,
        )
        mu = update_moment(updates, state.mu, beta2, 1)
        return out, ScaleByLionState(safe_increment(state.count), tree_cast(mu, mu_dtype))

    return elementwise(GradientTransformation(init, update))
