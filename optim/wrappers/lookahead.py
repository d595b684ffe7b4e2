"""Lookahead (Zhang, Lucas, Hinton & Ba 2019): k fast steps forward, one step back."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from _descent import validation
from optim._core.base import (
    GradientTransformation,
    ScalarOrSchedule,
    elementwise_if,
    is_elementwise,
)
from optim._core.combine import call_update
from optim._core.steps import safe_increment, step_counter, value_at
from optim._core.structure import as_transform, check_state, check_updates, require_params
from optim.tree import tree_copy


class LookaheadState(NamedTuple):
    count: jax.Array
    fast_state: Any
    slow_params: Any


def lookahead(
    fast: GradientTransformation,
    sync_period: int = 5,
    slow_step_size: ScalarOrSchedule = 0.5,
) -> GradientTransformation:
    """Lookahead around a fast optimizer; the params are the fast weights.

    The fast optimizer takes every step; after each `sync_period` (k) of them the slow weights
    move towards the fast ones and the fast weights restart from there (Algorithm 1):

        phi_t     = phi_{t-1} + alpha * (theta_{t,k} - phi_{t-1})    (phi_0 = the initial params)
        theta_t,0 = phi_t

    with `alpha = slow_step_size`. The fast optimizer's state is kept across syncs, as in the
    paper's experiments and optax. Defaults k = 5, alpha = 0.5 from the paper. Unlike optax,
    whose params are a (fast, slow) pair, the params here are the fast weights and the slow
    weights live in the state: read them with `eval_params(state)` (equal to the params right
    after a sync).
    """
    fast = as_transform(fast, "lookahead's fast optimizer")
    validation.integer("sync_period", sync_period, 1, concrete=False)
    validation.in_range("slow_step_size", slow_step_size, 0.0, 1.0)

    def init(params):
        return LookaheadState(step_counter(), fast.init(params), tree_copy(params))

    def update(updates, state, params=None, **extra):
        check_state(state, LookaheadState, "lookahead")
        require_params(params, "lookahead")
        check_updates(updates, state.slow_params, "state.slow_params")
        out, fast_state = call_update(fast, updates, state.fast_state, params, extra)
        alpha = value_at(slow_step_size, state.count)
        count = safe_increment(state.count)
        sync = count % sync_period == 0

        new_slow = jax.tree.map(
            lambda slow, p, u: (slow + alpha * (p + u - slow)).astype(slow.dtype),
            state.slow_params,
            params,
            out,
        )
        steps = jax.tree.map(
            lambda s, p, u: jnp.where(sync, s - p, u).astype(u.dtype), new_slow, params, out
        )
        slow = jax.tree.map(lambda s, old: jnp.where(sync, s, old), new_slow, state.slow_params)
        return steps, LookaheadState(count, fast_state, slow)

    return elementwise_if(is_elementwise(fast), GradientTransformation(init, update))
