"""Joining schedules end to end."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from _descent import validation
from schedules._steps import Schedule, reached, since


def join(schedules: Sequence[Schedule], boundaries: Sequence[int]) -> Schedule:
    """Run `schedules[0]` until `boundaries[0]`, then `schedules[1]`, and so on.

        value(t) = schedules[k](t - boundaries[k - 1])   for boundaries[k - 1] <= t < boundaries[k]

    Each later schedule sees the steps since its own start, so it begins at its own step 0.
    optax's `join_schedules`; any `step -> value` function works, optax's schedules included.

    Args:
      schedules: one or more schedules.
      boundaries: `len(schedules) - 1` non-decreasing integers >= 0, the steps at which the
        next schedule takes over.
    """
    schedules = list(schedules)
    if not schedules:
        raise ValueError("schedules must hold at least one schedule, got an empty sequence")
    for index, schedule in enumerate(schedules):
        if not callable(schedule):
            raise TypeError(
                f"schedules[{index}] must be a callable step -> value, got {schedule!r}"
            )
    boundaries = [
        validation.step_count(f"boundaries[{index}]", boundary, 0)
        for index, boundary in enumerate(boundaries)
    ]
    if len(boundaries) != len(schedules) - 1:
        raise ValueError(
            f"boundaries must hold len(schedules) - 1 = {len(schedules) - 1} steps, got "
            f"{len(boundaries)}: {boundaries!r}"
        )
    if any(later < earlier for earlier, later in zip(boundaries[:-1], boundaries[1:], strict=True)):
        raise ValueError(f"boundaries must be non-decreasing, got {boundaries!r}")
    first, rest = schedules[0], list(zip(boundaries, schedules[1:], strict=True))

    def joined(step: ArrayLike) -> jax.Array:
        value = first(step)
        for boundary, schedule in rest:
            value = jnp.where(reached(step, boundary), schedule(since(step, boundary)), value)
        return value

    return joined
