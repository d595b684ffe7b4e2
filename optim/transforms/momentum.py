"""Momentum: the heavy-ball and Nesterov traces, and exponential moving averages."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax

from _descent import validation
from optim._core.base import GradientTransformation, ScalarOrSchedule, elementwise
from optim._core.precision import check_state_dtype
from optim._core.steps import safe_increment, step_counter, value_at
from optim._core.structure import check_state, check_updates
from optim.tree import (
    bias_correction,
    tree_add_scaled,
    tree_cast_like,
    tree_zeros_like,
    update_moment,
)


class TraceState(NamedTuple):
    count: jax.Array
    trace: Any


def trace(
    decay: ScalarOrSchedule,
    nesterov: bool = False,
    accumulator_dtype: Any = None,
) -> GradientTransformation:
    """Heavy-ball momentum (Polyak 1964) or Nesterov's variant (Sutskever et al. 2013).

        v_t = g_t + decay * v_{t-1}                       (v_0 = 0)
        u_t = v_t              or, with nesterov,   u_t = g_t + decay * v_t

    Followed by `scale_by_learning_rate(eta)` this is the lecture's velocity
    `v(t) = alpha v(t-1) - eta dE/dw(t)` with `alpha = decay`, up to the factor eta kept out of
    the trace (the same rule as optax and PyTorch; identical for a constant eta). `decay` may
    be a schedule, e.g. the lecture's momentum raised from 0.5 to 0.9 as training settles.
    """
    validation.boolean("nesterov", nesterov)
    check_state_dtype("accumulator_dtype", accumulator_dtype)
    validation.in_range("decay", decay, 0.0, 1.0)

    def init(params):
        return TraceState(step_counter(), tree_zeros_like(params, accumulator_dtype))

    def update(updates, state, params=None, **extra):
        check_state(state, TraceState, "trace")
        check_updates(updates, state.trace, "state.trace")
        momentum = value_at(decay, state.count)
        velocity = jax.tree.map(
            lambda g, v: (g + momentum * v).astype(v.dtype), updates, state.trace
        )
        out = tree_add_scaled(updates, momentum, velocity) if nesterov else velocity
        return tree_cast_like(out, updates), TraceState(safe_increment(state.count), velocity)

    return elementwise(GradientTransformation(init, update))


class EmaState(NamedTuple):
    count: jax.Array
    ema: Any


def ema(
    decay: ScalarOrSchedule, debias: bool = True, accumulator_dtype: Any = None
) -> GradientTransformation:
    """Exponential moving average of the updates, optionally debiased (Kingma & Ba 2015).

        m_t = decay * m_{t-1} + (1 - decay) * g_t          (m_0 = 0)
        u_t = m_t / (1 - decay**t)   with debias,   else   u_t = m_t
    """
    validation.boolean("debias", debias)
    check_state_dtype("accumulator_dtype", accumulator_dtype)
    validation.decay_rate("decay", decay)

    def init(params):
        return EmaState(step_counter(), tree_zeros_like(params, accumulator_dtype))

    def update(updates, state, params=None, **extra):
        check_state(state, EmaState, "ema")
        check_updates(updates, state.ema, "state.ema")
        rate = value_at(decay, state.count)
        count = safe_increment(state.count)
        average = update_moment(updates, state.ema, rate, 1)
        out = bias_correction(average, rate, count) if debias else average
        return tree_cast_like(out, updates), EmaState(count, average)

    return elementwise(GradientTransformation(init, update))


