"""The checks every loss makes on its inputs when it is called (shapes and dtypes are known at
trace time, so these checks cost nothing under `jit`); values inside `jit` cannot be checked."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from _descent import validation


def as_floating(name: str, value: Any) -> jax.Array:
    """`value` as an array of a floating dtype; a TypeError naming `name` for any other dtype."""
    array = jnp.asarray(value)
    if not jnp.issubdtype(array.dtype, jnp.floating):
        raise TypeError(f"{name} must be an array of floating dtype, got {array.dtype}")
    return array


def as_integer(name: str, value: Any) -> jax.Array:
    """`value` as an array of an integer dtype; a TypeError naming `name` otherwise."""
    array = jnp.asarray(value)
    if not jnp.issubdtype(array.dtype, jnp.integer):
        raise TypeError(f"{name} must be an array of integer dtype, got {array.dtype}")
    return array


def same_shape(name_a: str, a: jax.Array, name_b: str, b: jax.Array) -> None:
    """A ValueError naming both arguments and their shapes when the shapes differ."""
    if jnp.shape(a) != jnp.shape(b):
        raise ValueError(
            f"{name_a} and {name_b} must have the same shape, got {name_a} {jnp.shape(a)} "
            f"and {name_b} {jnp.shape(b)}"
        )


def rank(name: str, value: jax.Array, expected: int) -> None:
    """A ValueError naming `name` when `value` does not have `expected` dimensions."""
    if jnp.ndim(value) != expected:
        raise ValueError(
            f"{name} must have {expected} dimensions, got shape {jnp.shape(value)}"
        )


def labels_in_range(name: str, labels: jax.Array, num_classes: int) -> None:
    """Concrete integer labels must lie in `[0, num_classes)`; traced labels (under `jit`)
    cannot be read and pass unchecked."""
    if isinstance(labels, jax.core.Tracer) or labels.size == 0:
        return
    values = np.asarray(labels)
    low, high = int(values.min()), int(values.max())
    if low < 0 or high >= num_classes:
        bad = low if low < 0 else high
        raise ValueError(
            f"{name} must be class indices in [0, {num_classes}), got {bad}"
        )


def broadcastable(name_a: str, a: jax.Array, name_b: str, b: jax.Array) -> None:
    """A ValueError naming both arguments when their shapes do not broadcast together."""
    try:
        np.broadcast_shapes(jnp.shape(a), jnp.shape(b))
    except ValueError:
        raise ValueError(
            f"{name_a} and {name_b} must have broadcastable shapes, got {name_a} "
            f"{jnp.shape(a)} and {name_b} {jnp.shape(b)}"
        ) from None


def hyperparameter(name: str, value: Any, low: float, high: float = float("inf"), *,
                   low_open: bool = False, high_open: bool = False) -> None:
    """A scalar hyperparameter of a loss in its interval (`_descent.validation.in_range`);
    arrays of several values and traced values pass unchecked."""
    if jnp.ndim(value) == 0:
        validation.in_range(name, value, low, high, low_open=low_open, high_open=high_open)
