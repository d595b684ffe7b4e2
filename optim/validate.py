"""Hyperparameter checks made when an optimizer is built, so mistakes fail loudly and early.

Each check names the argument, the allowed range and the value given. Schedules (callables)
and traced arrays (inside `inject_hyperparams` or a vmapped sweep) are not checked here: a
schedule's values are its own business and a tracer has no value yet.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import numpy as np


def _concrete(name: str, value: Any) -> float | None:
    """The value as a Python float, or None when it cannot be known at build time."""
    if callable(value) or isinstance(value, jax.core.Tracer):
        return None
    array = np.asarray(value)
    if array.ndim != 0:
        raise ValueError(f"{name} must be a scalar, got an array of shape {array.shape}")
    if not np.issubdtype(array.dtype, np.number):
        raise TypeError(f"{name} must be a number, got {value!r}")
    return float(array)


def in_range(
    name: str,
    value: Any,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    low_open: bool = False,
    high_open: bool = False,
    allow_infinite: bool = False,
) -> None:
    """Raise `ValueError("name must be in [low, high), got value")` when out of range or NaN.

    An unbounded side is open: infinities are refused unless `allow_infinite`.
    """
    number = _concrete(name, value)
    if number is None:
        return
    low_open = low_open or (math.isinf(low) and not allow_infinite)
    high_open = high_open or (math.isinf(high) and not allow_infinite)
    too_low = number <= low if low_open else number < low
    too_high = number >= high if high_open else number > high
    if math.isnan(number) or too_low or too_high:
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise ValueError(f"{name} must be in {interval}, got {value!r}")


def fixed_number(name: str, value: Any) -> None:
    """Refuse a schedule where only a fixed number makes sense."""
    if callable(value):
        raise TypeError(f"{name} must be a number, not a schedule; got {value!r}")


def non_negative(name: str, value: Any) -> None:
    in_range(name, value, 0.0)


def positive(name: str, value: Any) -> None:
    in_range(name, value, 0.0, low_open=True)


def decay_rate(name: str, value: Any) -> None:
    """A moving-average decay: in [0, 1)."""
    in_range(name, value, 0.0, 1.0, high_open=True)


def positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
