"""Reduce the step size when the loss stops improving (the lectures' "divide by 10")."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from _descent import validation
from _descent.dtypes import scalar_dtype
from optim._core.base import GradientTransformation, elementwise
from optim._core.steps import safe_increment, step_counter
from optim._core.structure import check_state
from optim.tree import tree_scale


class ReduceLROnPlateauState(NamedTuple):
    count: jax.Array  # values accumulated towards the current average
    scale: jax.Array  # the factor multiplying the updates (1 until the first plateau)
    best_value: jax.Array
    plateau_count: jax.Array  # averaged values in a row without improvement
    cooldown_count: jax.Array  # averaged values left before plateaus count again
    avg_value: jax.Array  # the running mean of the values of the current accumulation


def _known_zero(value: Any) -> bool:
    """True for a number (or concrete array) equal to 0; False for tracers and schedules."""
    if callable(value) or isinstance(value, jax.core.Tracer):
        return False
    return bool(np.asarray(value) == 0)


def reduce_on_plateau(
    factor: float = 0.1,
    patience: int = 10,
    rtol: float = 1e-4,
    atol: float = 0.0,
    cooldown: int = 0,
    accumulation_size: int = 1,
    min_scale: float = 0.0,
) -> GradientTransformation:
    """Multiply the updates by `scale`, cut by `factor` when the loss reaches a plateau.

    Reads the loss through `update(..., value=loss)`. The values are averaged over
    `accumulation_size` calls (an epoch of minibatches, say); each average `v` then counts as

        improved   if  v < (1 - rtol) * best - atol    (best <- v, plateau_count <- 0)
        a plateau  otherwise                            (plateau_count += 1)

    and when `plateau_count` reaches `patience`: `scale <- max(scale * factor, min_scale)`,
    `plateau_count <- 0`, and the next `cooldown` averages are not counted as plateaus.

    Defaults: factor 0.1, as the lectures advise ("reduce the learning rate by a factor of
    10", 1-3 times near convergence), patience 10, rtol 1e-4 and min_scale 0 as optax and
    PyTorch. Place it after the learning rate (`chain(optim.adam(1e-3),
    optim.reduce_on_plateau())`) and the rate is scaled; the current factor is
    `get_field(state, "scale")`. Semantics of optax's `contrib.reduce_on_plateau`; PyTorch's
    `ReduceLROnPlateau` waits one value longer (it cuts when the count exceeds `patience`).
    """
    validation.in_range("factor", factor, 0.0, 1.0, low_open=True, high_open=True)
    validation.integer("patience", patience, 1, concrete=False)
    validation.in_range("rtol", rtol, 0.0, 1.0)
    validation.non_negative("atol", atol)
    validation.integer("cooldown", cooldown, 0, concrete=False)
    validation.integer("accumulation_size", accumulation_size, 1, concrete=False)
    validation.in_range("min_scale", min_scale, 0.0, 1.0)
    if _known_zero(rtol) and _known_zero(atol):
        raise ValueError("rtol and atol must not both be 0 (every equal value would improve)")

    def init(params):
        dtype = scalar_dtype(params)
        # One buffer per field: a step that donates the state may not donate one twice.
        return ReduceLROnPlateauState(
            count=step_counter(),
            scale=jnp.ones([], jnp.float32),
            best_value=jnp.asarray(jnp.inf, dtype),
            plateau_count=step_counter(),
            cooldown_count=step_counter(),
            avg_value=jnp.zeros([], dtype),
        )

    def judge(state: ReduceLROnPlateauState) -> ReduceLROnPlateauState:
        value = state.avg_value
        improved = value < (1 - rtol) * state.best_value - atol
        best = jnp.where(improved, value, state.best_value)
        plateaus = jnp.where(improved, 0, safe_increment(state.plateau_count))
        cooling = state.cooldown_count > 0
        cut = jnp.logical_and(jnp.logical_not(cooling), plateaus >= patience)
        scale = jnp.where(cut, jnp.maximum(state.scale * factor, min_scale), state.scale)
        plateaus = jnp.where(jnp.logical_or(cooling, cut), 0, plateaus)
        cooldown_count = jnp.where(
            cooling, state.cooldown_count - 1, jnp.where(cut, cooldown, 0)
        )
        return ReduceLROnPlateauState(
            count=step_counter(),
            scale=scale.astype(jnp.float32),
            best_value=best,
            plateau_count=plateaus.astype(jnp.int32),
            cooldown_count=cooldown_count.astype(jnp.int32),
            avg_value=jnp.zeros_like(value),
        )

    def update(updates, state, params=None, *, value=None, **extra):
        check_state(state, ReduceLROnPlateauState, "reduce_on_plateau")
        if value is None:
            raise TypeError(
                "reduce_on_plateau reads the loss: call update(grads, state, params, value=loss)"
            )
        value = jnp.asarray(value, state.avg_value.dtype)
        if value.shape != ():
            raise ValueError(f"value must be a scalar loss, got shape {value.shape}")
        count = safe_increment(state.count)
        average = state.avg_value + (value - state.avg_value) / count
        state = state._replace(count=count, avg_value=average.astype(state.avg_value.dtype))
        state = jax.lax.cond(count >= accumulation_size, judge, lambda s: s, state)
        return tree_scale(state.scale, updates), state

    return elementwise(GradientTransformation(init, update))
