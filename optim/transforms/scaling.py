"""Scaling by a constant, a learning rate or a schedule."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from _descent import validation
from optim._core.base import EmptyState, GradientTransformation, ScalarOrSchedule, elementwise
from optim._core.combine import identity
from optim._core.steps import safe_increment, step_counter, value_at
from optim._core.structure import check_state, check_update_dtypes
from optim.tree import tree_scale

ScaleState = EmptyState
"""optax's name for `scale`'s state: none."""


def scale(step_size: float) -> GradientTransformation:
    """Multiply the updates by a fixed number: `u <- step_size * u`."""
    validation.fixed_number("step_size", step_size)
    validation.in_range("step_size", step_size)

    def update(updates, state, params=None, **extra):
        check_update_dtypes(updates, params)
        return tree_scale(value_at(step_size, None), updates), state

    return elementwise(GradientTransformation(lambda params: EmptyState(), update))


class ScaleByScheduleState(NamedTuple):
    count: jax.Array


def scale_by_schedule(step_size_fn: Callable[[jax.Array], jax.Array]) -> GradientTransformation:
    """Multiply by a schedule of the step: `u_t <- step_size_fn(t) * u_t`, t = 0, 1, ..."""
    if not callable(step_size_fn):
        raise TypeError(f"step_size_fn must be a callable step -> value, got {step_size_fn!r}")
    validation.schedule("step_size_fn", step_size_fn)

    def init(params):
        return ScaleByScheduleState(count=step_counter())

    def update(updates, state, params=None, **extra):
        check_state(state, ScaleByScheduleState, "scale_by_schedule")
        check_update_dtypes(updates, params)
        step_size = jnp.asarray(step_size_fn(state.count))
        return tree_scale(step_size, updates), ScaleByScheduleState(safe_increment(state.count))

    return elementwise(GradientTransformation(init, update))


def scale_by_learning_rate(
    learning_rate: ScalarOrSchedule | None = None, *, flip_sign: bool = True
) -> GradientTransformation:
    """`u <- -learning_rate * u` (or `+` with `flip_sign=False`); a number or a schedule.
    None (the default, as optax) leaves the updates as they are, sign included."""
    validation.boolean("flip_sign", flip_sign)
    if learning_rate is None:
        return identity()
    if callable(learning_rate):
        validation.schedule("learning_rate", learning_rate)
        sign = -1.0 if flip_sign else 1.0
        return scale_by_schedule(lambda count: sign * jnp.asarray(learning_rate(count)))
    validation.non_negative("learning_rate", learning_rate)
    return scale(-learning_rate if flip_sign else learning_rate)
