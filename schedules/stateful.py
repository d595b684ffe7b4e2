"""Schedule types under optax's names: `Schedule` (a pure `step -> value`), `StatefulSchedule`
(an object with `init`, `update` and `__call__` on a state of its own) and `WrappedSchedule`
(a `Schedule` as a `StatefulSchedule`, its state a step count).

    lr = schedules.WrappedSchedule(schedules.cosine_decay(0.1, 100))
    state = lr.init()                 # WrappedScheduleState(count=0)
    lr(state), lr.update(state)       # the value at this count, the next state

`optim.inject_stateful_hyperparams` takes a `StatefulSchedule` wherever a hyperparameter may
vary, so a schedule may depend on what the training loop passes to `update` (a loss, say).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Protocol, runtime_checkable

import jax
import jax.numpy as jnp

Schedule = Callable[[jax.Array], jax.Array]
"""A pure function `step -> value`."""


@runtime_checkable
class StatefulSchedule(Protocol):
    """A schedule with a state: `init() -> state`, `update(state, **extra) -> state`, and
    `__call__(state, **extra) -> value`, the value at that state (as optax's protocol)."""

    def init(self) -> Any: ...

    def update(self, state: Any, **extra_args: Any) -> Any: ...

    def __call__(self, state: Any, **extra_args: Any) -> jax.Array: ...


class WrappedScheduleState(NamedTuple):
    count: jax.Array  # updates so far (int32, saturating)


class WrappedSchedule:
    """`schedule_fn` as a `StatefulSchedule`: its state counts the updates, its value is
    `schedule_fn(count)`. As optax's."""

    def __init__(self, schedule_fn: Schedule) -> None:
        if not callable(schedule_fn):
            raise TypeError(f"schedule_fn must be a function step -> value, got {schedule_fn!r}")
        self.schedule_fn = schedule_fn

    def init(self) -> WrappedScheduleState:
        return WrappedScheduleState(jnp.zeros([], jnp.int32))

    def update(self, state: WrappedScheduleState, **extra_args: Any) -> WrappedScheduleState:
        limit = jnp.iinfo(jnp.int32).max
        count = jnp.where(state.count < limit, state.count + 1, limit).astype(jnp.int32)
        return WrappedScheduleState(count)

    def __call__(self, state: WrappedScheduleState, **extra_args: Any) -> jax.Array:
        return self.schedule_fn(state.count)
