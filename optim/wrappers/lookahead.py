"""Lookahead (Zhang, Lucas, Hinton & Ba 2019): k fast steps forward, one step back.

Two calling forms, told apart by the params `init` is given: plain params (the fast weights;
the slow ones live in the state, `LookaheadState`), or optax's `LookaheadParams(fast, slow)`
pair (both in the params, the state `LookaheadPairState` with optax's fields).
"""

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
from optim.tree import tree_copy, tree_where


class LookaheadState(NamedTuple):
    count: jax.Array
    fast_state: Any
    slow_params: Any


class LookaheadPairState(NamedTuple):
    """The state for `LookaheadParams` params, optax's `LookaheadState` field for field."""

    fast_state: Any
    steps_since_sync: jax.Array  # fast steps since the last sync, in [0, sync_period)


class LookaheadParams(NamedTuple):
    """optax's params for lookahead: the fast weights (take gradients there) and the slow ones
    (evaluate there)."""

    fast: Any
    slow: Any

    @classmethod
    def init_synced(cls, params: Any) -> LookaheadParams:
        """Fast and slow weights both equal to `params`."""
        return cls(fast=params, slow=params)


def lookahead(
    fast: GradientTransformation | None = None,
    sync_period: int = 5,
    slow_step_size: ScalarOrSchedule = 0.5,
    reset_state: bool = False,
    *,
    fast_optimizer: GradientTransformation | None = None,
) -> GradientTransformation:
    """Lookahead around a fast optimizer (`fast`, or optax's keyword `fast_optimizer`).

    The fast optimizer takes every step; after each `sync_period` (k) of them the slow weights
    move towards the fast ones and the fast weights restart from there (Algorithm 1):

        phi_t     = phi_{t-1} + alpha * (theta_{t,k} - phi_{t-1})    (phi_0 = the initial params)
        theta_t,0 = phi_t

    with `alpha = slow_step_size`. The fast optimizer's state is kept across syncs, as in the
    paper's experiments and optax, unless `reset_state=True` (then it restarts from its
    `init` at each sync). Defaults k = 5, alpha = 0.5 from the paper (optax has none).

    Given plain params, they are the fast weights and the slow weights live in the state: read
    them with `eval_params(state)` (equal to the params right after a sync). Given optax's
    `LookaheadParams(fast, slow)` (`LookaheadParams.init_synced(params)`), the gradients are
    the fast weights' and the updates a `LookaheadParams` for both, as optax's `lookahead`
    (where `slow_step_size` must be a number: the state keeps no step count).
    """
    if fast is not None and fast_optimizer is not None:
        raise TypeError("lookahead takes the fast optimizer once: fast or fast_optimizer")
    fast = as_transform(fast if fast is not None else fast_optimizer, "lookahead's fast optimizer")
    validation.integer("sync_period", sync_period, 1, concrete=False)
    validation.in_range("slow_step_size", slow_step_size, 0.0, 1.0)
    validation.boolean("reset_state", reset_state)

    def restart(sync, fast_state, fast_params):
        if not reset_state:
            return fast_state
        return tree_where(sync, fast.init(fast_params), fast_state)

    def init(params):
        if isinstance(params, LookaheadParams):
            if callable(slow_step_size):
                raise TypeError(
                    "lookahead with LookaheadParams params needs slow_step_size as a number, "
                    f"got the schedule {slow_step_size!r} (use plain params for a schedule)"
                )
            return LookaheadPairState(fast.init(params.fast), step_counter())
        return LookaheadState(step_counter(), fast.init(params), tree_copy(params))

    def pair_update(updates, state, params, extra):
        out, fast_state = call_update(fast, updates, state.fast_state, params.fast, extra)
        sync = state.steps_since_sync == sync_period - 1
        alpha = jnp.asarray(slow_step_size)
        # Both moves from the fast weights after this step, theta + u, to the slow ones.
        gap = jax.tree.map(lambda f, u, s: f + u - s, params.fast, out, params.slow)
        slow = jax.tree.map(lambda d, s: jnp.where(sync, alpha * d, 0).astype(s.dtype),
                            gap, params.slow)
        fast_out = jax.tree.map(
            lambda u, d: jnp.where(sync, u - (1 - alpha) * d, u).astype(u.dtype), out, gap)
        steps = (state.steps_since_sync + 1) % sync_period
        fast_state = restart(sync, fast_state, params.fast)
        return LookaheadParams(fast_out, slow), LookaheadPairState(fast_state, steps)

    def update(updates, state, params=None, **extra):
        require_params(params, "lookahead")
        if isinstance(params, LookaheadParams):
            check_state(state, LookaheadPairState, "lookahead")
            check_updates(updates, params.fast, "params.fast")
            return pair_update(updates, state, params, extra)
        check_state(state, LookaheadState, "lookahead")
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
        fast_state = restart(sync, fast_state, slow)
        return steps, LookaheadState(count, fast_state, slow)

    return elementwise_if(is_elementwise(fast), GradientTransformation(init, update))
