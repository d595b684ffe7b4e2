"""Averaged params: `ema_params` (Polyak averaging) and `eval_params`, which reads the params
to evaluate a model with from any state that holds some (an average, lookahead's slow weights,
schedule-free's x)."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from _descent import validation
from optim._core.base import GradientTransformation, Params, ScalarOrSchedule, elementwise
from optim._core.precision import check_state_dtype
from optim._core.state import find_states
from optim._core.steps import safe_increment, step_counter, value_at
from optim._core.structure import check_state, check_updates, require_params
from optim.tree import tree_cast, tree_copy, tree_zeros_like
from optim.wrappers.lookahead import LookaheadState
from optim.wrappers.schedule_free import ScheduleFreeState, schedule_free_eval_params


class EmaParamsState(NamedTuple):
    count: jax.Array
    weight_sum: jax.Array  # float32: the total weight of the averaged params so far
    averaged_params: Any


def ema_params(
    decay: ScalarOrSchedule | None = 0.999, *, debias: bool = True, dtype: Any = None
) -> GradientTransformation:
    """Average the params along training (Polyak averaging); the updates pass unchanged.

    Put it last in a chain: with `p_t = params + updates` the params after step t,

        Z_t = decay * Z_{t-1} + (1 - decay)          (Z_0 = 0)
        a_t = a_{t-1} + (1 - decay) / Z_t * (p_t - a_{t-1})

    i.e. with `debias` (default) `a_t` is the exponential moving average of p_1..p_t divided by
    its total weight `Z_t = 1 - decay**t`, Adam's bias correction (a_1 = p_1); without it,
    `a_t = decay * a_{t-1} + (1 - decay) * p_t` starting from the initial params (a_0 = p_0),
    as flax and timm's model EMA. `decay=None` is the uniform Polyak-Ruppert average
    (Polyak & Juditsky 1992) of p_1..p_t. `decay` may be a schedule. Read the average with
    `eval_params(state)`. `dtype` sets the average's dtype (default the params'); with
    bfloat16 params pass `dtype=jnp.float32`, as steps of `(1 - decay) * (p - a)` fall below
    bfloat16's resolution.
    """
    validation.boolean("debias", debias)
    check_state_dtype("dtype", dtype)
    if decay is not None:
        validation.decay_rate("decay", decay)

    def init(params):
        average = tree_zeros_like(params, dtype) if debias else tree_copy(tree_cast(params, dtype))
        return EmaParamsState(step_counter(), jnp.zeros([], jnp.float32), average)

    def update(updates, state, params=None, **extra):
        check_state(state, EmaParamsState, "ema_params")
        require_params(params, "ema_params")
        check_updates(updates, state.averaged_params, "state.averaged_params")
        count = safe_increment(state.count)
        if decay is None:
            weight_sum = count.astype(jnp.float32)
            rate = 1.0 / weight_sum
        else:
            d = jnp.asarray(value_at(decay, state.count), jnp.float32)
            weight_sum = d * state.weight_sum + (1 - d)
            rate = (1 - d) / weight_sum if debias else 1 - d
        average = jax.tree.map(
            lambda a, p, u: (a + rate * (p + u - a)).astype(a.dtype),
            state.averaged_params,
            params,
            updates,
        )
        return updates, EmaParamsState(count, weight_sum, average)

    return elementwise(GradientTransformation(init, update))


def eval_params(state: Any, params: Params | None = None) -> Params:
    """The params to evaluate a model with, read from an optimizer state.

    - `ema_params`: the running average of the params;
    - `lookahead`: the slow weights;
    - `schedule_free`, `schedule_free_sgd`, `schedule_free_adamw`: the averaged sequence x
      (needs the current `params`, the gradient points y).

    Raises ValueError when the state holds none of these or several.
    """
    found = [
        *find_states(state, EmaParamsState),
        *find_states(state, LookaheadState),
        *find_states(state, ScheduleFreeState),
    ]
    if len(found) != 1:
        raise ValueError(
            "eval_params expects exactly one ema_params, lookahead or schedule_free state in "
            f"the optimizer state, found {len(found)}"
        )
    (holder,) = found
    if isinstance(holder, EmaParamsState):
        return holder.averaged_params
    if isinstance(holder, LookaheadState):
        return holder.slow_params
    if params is None:
        raise ValueError("eval_params of a schedule-free state needs the current params")
    return schedule_free_eval_params(holder, params)
