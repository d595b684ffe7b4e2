"""Running an inner transform only at chosen steps: `conditionally_transform` passes the updates
through on the other steps, `conditionally_mask` zeroes them. As optax's
(`optax.transforms._conditionality`), state types and field names included.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from _descent import validation
from optim._core.base import GradientTransformation, elementwise_if, is_elementwise
from optim._core.combine import call_update
from optim._core.steps import safe_increment, step_counter
from optim._core.structure import as_transform, check_state
from optim.tree import tree_zeros_like

ConditionFn = Callable[..., Any]
"""`(step, **extra) -> a boolean scalar`: whether the inner transform runs at this step."""


class ConditionallyTransformState(NamedTuple):
    inner_state: Any
    step: jax.Array  # calls to update so far


class ConditionallyMaskState(NamedTuple):
    step: jax.Array  # calls to update so far
    inner_state: Any


def _check_condition(should_transform_fn: Any, forward_extra_args: Any) -> None:
    if not callable(should_transform_fn):
        raise TypeError(
            "should_transform_fn must be a function step -> bool scalar, got "
            f"{should_transform_fn!r}"
        )
    validation.boolean("forward_extra_args", forward_extra_args)


def _decide(should_transform_fn, step, extra, forward_extra_args, who):
    """The condition at `step`, checked to be one boolean (an array of them cannot choose)."""
    decision = jnp.asarray(should_transform_fn(step, **(extra if forward_extra_args else {})))
    if decision.shape != () or decision.dtype != jnp.bool_:
        raise ValueError(
            f"{who}: should_transform_fn must return a bool scalar, got "
            f"{decision.dtype}{list(decision.shape)}"
        )
    return decision


def _conditional(inner, should_transform_fn, forward_extra_args, *, zero, who, state_type):
    inner = as_transform(inner, f"{who}'s inner")
    _check_condition(should_transform_fn, forward_extra_args)

    def make_state(step, inner_state):
        return state_type(step=step, inner_state=inner_state)

    def init(params):
        return make_state(step_counter(), inner.init(params))

    def update(updates, state, params=None, **extra):
        check_state(state, state_type, who)
        run = _decide(should_transform_fn, state.step, extra, forward_extra_args, who)

        def apply(_):
            return call_update(inner, updates, state.inner_state, params, extra)

        def skip(_):
            return (tree_zeros_like(updates) if zero else updates), state.inner_state

        out, inner_state = jax.lax.cond(run, apply, skip, None)
        return out, make_state(safe_increment(state.step), inner_state)

    return elementwise_if(is_elementwise(inner), GradientTransformation(init, update))


def conditionally_transform(
    inner: GradientTransformation,
    should_transform_fn: ConditionFn,
    forward_extra_args: bool = False,
) -> GradientTransformation:
    """`inner` at the steps where `should_transform_fn(step)` is True; elsewhere the updates
    pass through unchanged and `inner`'s state stays as it is.

    `step` counts the calls to `update` before this one (int32, from 0). With
    `forward_extra_args=True` the update's keyword extras reach the condition too
    (`should_transform_fn(step, value=...)`). As optax's, state `ConditionallyTransformState`.
    """
    return _conditional(inner, should_transform_fn, forward_extra_args, zero=False,
                        who="conditionally_transform", state_type=ConditionallyTransformState)


def conditionally_mask(
    inner: GradientTransformation,
    should_transform_fn: ConditionFn,
    forward_extra_args: bool = False,
) -> GradientTransformation:
    """`inner` at the steps where `should_transform_fn(step)` is True; elsewhere the updates
    are zero (the params do not move) and `inner`'s state stays as it is.

    As `conditionally_transform` otherwise; optax's, state `ConditionallyMaskState`.
    """
    return _conditional(inner, should_transform_fn, forward_extra_args, zero=True,
                        who="conditionally_mask", state_type=ConditionallyMaskState)
