"""Schedule-free learning (Defazio et al. 2024, "The Road Less Scheduled").

Momentum is replaced by interpolation and averaging, so no learning-rate decay schedule is
needed. Three sequences: z (the base optimizer's iterates), x (their weighted average, the
params to evaluate with) and y (the point where gradients are taken, the params being
trained):

    y_t     = (1 - b1) z_t + b1 x_t
    z_{t+1} = z_t + base_update(grad f(y_t))
    x_{t+1} = (1 - c_{t+1}) x_t + c_{t+1} z_{t+1},     c_{t+1} = w_t / (w_1 + ... + w_t)

with weights `w_t = (max_{i <= t} gamma_i) ** weight_lr_power` of the step sizes gamma_t.
The state stores z; x is recovered as `(y - (1 - b1) z) / b1` by `schedule_free_eval_params`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from _descent import validation
from _descent.dtypes import default_float, scalar_dtype
from optim._core.base import (
    GradientTransformation,
    Params,
    ScalarOrSchedule,
    elementwise_if,
    is_elementwise,
)
from optim._core.combine import call_update
from optim._core.precision import check_state_dtype
from optim._core.state import one_state
from optim._core.steps import safe_increment, step_counter, value_at
from optim._core.structure import as_transform, check_state, check_updates, require_params
from optim.tree import tree_cast, tree_copy


class ScheduleFreeState(NamedTuple):
    count: jax.Array
    b1: jax.Array  # kept so that the eval params can be read from the state alone
    weight_sum: jax.Array
    max_lr: jax.Array
    base_optimizer_state: Any
    z: Any


def schedule_free(
    base_optimizer: GradientTransformation,
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    weight_lr_power: float = 2.0,
    state_dtype: Any = None,
) -> GradientTransformation:
    """Make `base_optimizer` (without momentum of its own) schedule-free.

    `learning_rate` is the step size gamma_t the base optimizer uses (a number or a schedule of
    the same 0-based step count), read here only for the averaging weights. The update is
    computed without dividing by b1: from y_{t+1} = b1 x_{t+1} + (1 - b1) z_{t+1},

        y_{t+1} - y_t = c_{t+1} (z_t - y_t) + (1 - b1 (1 - c_{t+1})) u_t

    where u_t is the base update, as the reference implementation does. `b1` in (0, 1]
    (1: plain averaging of the base iterates, Polyak-Ruppert). `state_dtype` sets z's dtype.
    As optax's `contrib.schedule_free`, except that the step count starts at 0 for the
    learning rate here as in the base optimizer (optax reads schedule(t + 1) for the weights).
    """
    check_state_dtype("state_dtype", state_dtype)
    base_optimizer = as_transform(base_optimizer, "schedule_free's base_optimizer")
    validation.in_range("b1", b1, 0.0, 1.0, low_open=True)
    validation.non_negative("weight_lr_power", weight_lr_power)
    validation.non_negative("learning_rate", learning_rate)

    def init(params):
        dtype = scalar_dtype(params)
        return ScheduleFreeState(
            count=step_counter(),
            b1=jnp.asarray(b1, dtype),
            weight_sum=jnp.zeros([], dtype),
            max_lr=jnp.zeros([], dtype),
            base_optimizer_state=base_optimizer.init(params),
            z=tree_copy(tree_cast(params, state_dtype)),
        )

    def update(updates, state, params=None, **extra):
        check_state(state, ScheduleFreeState, "schedule_free")
        require_params(params, "schedule_free")
        check_updates(updates, state.z, "state.z")
        dtype = state.max_lr.dtype
        lr = jnp.asarray(value_at(learning_rate, state.count), dtype)
        max_lr = jnp.maximum(state.max_lr, lr)
        weight = max_lr ** jnp.asarray(weight_lr_power, dtype)
        weight_sum = state.weight_sum + weight
        # All weights 0 so far (a warm-up from 0): x stays where it is.
        c = jnp.where(weight_sum > 0, weight / jnp.where(weight_sum > 0, weight_sum, 1), 0)
        beta = jnp.asarray(value_at(b1, state.count), dtype)
        base, base_state = call_update(
            base_optimizer, updates, state.base_optimizer_state, params, extra
        )
        step = jax.tree.map(
            lambda g, u, z, y: (c * (z - y) + (1 - beta * (1 - c)) * u).astype(g.dtype),
            updates,
            base,
            state.z,
            params,
        )
        z = jax.tree.map(lambda z, u: (z + u).astype(z.dtype), state.z, base)
        new_state = ScheduleFreeState(
            safe_increment(state.count), beta, weight_sum, max_lr, base_state, z
        )
        return step, new_state

    return elementwise_if(is_elementwise(base_optimizer), GradientTransformation(init, update))


def schedule_free_eval_params(state: Any, params: Params) -> Params:
    """The averaged params x to evaluate with: `x = (y - (1 - b1) z) / b1`, y the params.

    `state` is a schedule-free state or any optimizer state holding exactly one.
    """
    if not isinstance(state, ScheduleFreeState):
        state = one_state(state, ScheduleFreeState, "schedule_free_eval_params")
    beta = state.b1
    return jax.tree.map(
        lambda y, z: ((y - (1 - beta) * z) / beta).astype(jnp.result_type(y)), params, state.z
    )


def warmup_step_size(learning_rate: ScalarOrSchedule, warmup_steps: int | None) -> Any:
    """`learning_rate * min(1, (t + 1) / warmup_steps)`: the reference's linear warm-up."""
    if warmup_steps is None:
        return learning_rate
    validation.integer("warmup_steps", warmup_steps, 1, concrete=False)

    def step_size(count):
        ramp = jnp.minimum(1.0, (jnp.asarray(count, default_float()) + 1) / warmup_steps)
        return value_at(learning_rate, count) * ramp

    return step_size


def adam_step_size(
    learning_rate: ScalarOrSchedule, b2: float, warmup_steps: int | None
) -> Any:
    """`gamma_t = learning_rate * sqrt(1 - b2**t) * min(1, t / warmup_steps)`, t = count + 1.

    Schedule-free AdamW's step (Defazio et al. 2024, Algorithm 1): Adam's bias correction of v
    is folded into the step size, so it also enters the averaging weights.
    """
    warmed = warmup_step_size(learning_rate, warmup_steps)

    def step_size(count):
        t = jnp.asarray(count, default_float()) + 1
        return value_at(warmed, count) * jnp.sqrt(1 - jnp.asarray(b2, default_float()) ** t)

    return step_size
