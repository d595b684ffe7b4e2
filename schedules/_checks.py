"""Argument checks made when a schedule is built, so a bad argument fails loudly and early.

Each error names the argument, the allowed range and the value given. Values (`init_value`,
`decay_rate`, ...) may be traced arrays, e.g. when a sweep vmaps over the schedule's
construction; those cannot be checked and pass through untouched. Step counts, boundaries and
modes shape the computation and must be concrete.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import numpy as np


def _interval(low: float, high: float, low_open: bool, high_open: bool) -> str:
    left = "(" if low_open or low == -math.inf else "["
    right = ")" if high_open or high == math.inf else "]"
    return f"{left}{low:g}, {high:g}{right}"


def number(
    name: str,
    value: Any,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    low_open: bool = False,
    high_open: bool = False,
    concrete: bool = False,
) -> Any:
    """A real scalar in the given interval, returned as a Python float.

    Infinite and NaN values are always rejected, whatever the interval. Tracers pass through
    unchecked unless `concrete` is set (the argument shapes the computation, so a traced value
    is a TypeError).
    """
    if isinstance(value, jax.core.Tracer):
        if concrete:
            raise TypeError(f"{name} must be a concrete number, not a traced value: {value!r}")
        return value
    array = np.asarray(value) if not isinstance(value, (str, bytes)) else None
    if (
        array is None
        or isinstance(value, bool)
        or array.dtype == np.bool_
        or not np.issubdtype(array.dtype, np.number)
        or np.issubdtype(array.dtype, np.complexfloating)
    ):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    if array.ndim != 0:
        raise ValueError(f"{name} must be a scalar, got an array of shape {array.shape}")
    result = float(array)
    too_low = result <= low if low_open else result < low
    too_high = result >= high if high_open else result > high
    if not math.isfinite(result) or too_low or too_high:
        interval = _interval(low, high, low_open, high_open)
        raise ValueError(f"{name} must be a finite number in {interval}, got {value!r}")
    return result


def integer(name: str, value: Any, low: int = 0) -> int:
    """A concrete integer >= `low`, returned as a Python int.

    Integral floats such as `1e4` are accepted (configs often spell step counts that way).
    """
    if isinstance(value, jax.core.Tracer):
        raise TypeError(f"{name} must be a concrete integer, not a traced value: {value!r}")
    array = np.asarray(value) if not isinstance(value, (str, bytes)) else None
    if (
        array is None
        or isinstance(value, bool)
        or array.dtype == np.bool_
        or array.ndim != 0
        or not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating))
    ):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    result = array.item()
    if isinstance(result, float):
        if not (math.isfinite(result) and result.is_integer()):
            raise ValueError(f"{name} must be an integer in [{low}, inf), got {value!r}")
        result = int(result)
    if result < low:
        raise ValueError(f"{name} must be an integer in [{low}, inf), got {value!r}")
    return result


def choice(name: str, value: Any, options: tuple[str, ...]) -> str:
    """One of the given strings."""
    if not isinstance(value, str) or value not in options:
        shown = ", ".join(repr(option) for option in options)
        raise ValueError(f"{name} must be one of {shown}, got {value!r}")
    return value


def boolean(name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)
