"""Argument checks made when an optimizer or a schedule is built, so mistakes fail early.

Every error names the argument, what is allowed and the value given:

    b1 must be in [0, 1), got 1.5
    transition_steps must be an integer in [1, inf), got 0
    patience must be a positive integer, got 0

Numbers that cannot be known when the object is built pass unchecked: schedules (a callable
`step -> value` where an optimizer accepts one) and traced arrays (inside
`optim.inject_hyperparams`, or a vmapped sweep), unless the argument shapes the computation and
must be concrete.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


def interval(low: float, high: float, low_open: bool = False, high_open: bool = False) -> str:
    """`[low, high)` and the like; an infinite end is always open."""
    left = "(" if low_open or math.isinf(low) else "["
    right = ")" if high_open or math.isinf(high) else "]"
    return f"{left}{low:g}, {high:g}{right}"


def _is_traced(value: Any) -> bool:
    return isinstance(value, jax.core.Tracer)


def real(name: str, value: Any, *, noun: str = "a number") -> float:
    """A concrete real scalar as a Python float (NaN and infinities included).

    Raises TypeError for what is not a real number (strings, booleans, complex numbers) and
    ValueError for an array that is not a scalar.
    """
    array = None if isinstance(value, (str, bytes, bool)) else np.asarray(value)
    # jnp.issubdtype knows bfloat16 and the other ml_dtypes floats; NumPy's does not.
    numeric = array is not None and jnp.issubdtype(array.dtype, jnp.number)
    if numeric and array.ndim != 0:
        raise ValueError(f"{name} must be a scalar, got an array of shape {array.shape}")
    if not numeric or jnp.issubdtype(array.dtype, jnp.complexfloating):
        raise TypeError(f"{name} must be {noun}, got {value!r}")
    return float(array)


def schedule(name: str, fn: Any) -> None:
    """A schedule `step -> value` must give a real scalar: checked once, on shapes only
    (`jax.eval_shape`), so a vector is not broadcast into the updates entry by entry."""
    try:
        out = jax.eval_shape(fn, jax.ShapeDtypeStruct((), jnp.int32))
    except Exception as error:  # noqa: BLE001 - any failure is the schedule's, named here
        raise TypeError(f"{name}: the schedule could not be called on a step count "
                        f"({type(error).__name__}: {error})") from error
    shape, dtype = getattr(out, "shape", None), getattr(out, "dtype", None)
    if shape != () or dtype is None or not jnp.issubdtype(dtype, jnp.number) or (
            jnp.issubdtype(dtype, jnp.complexfloating)):
        raise ValueError(f"{name} must be a number or a schedule step -> real scalar; the "
                         f"schedule returns {getattr(dtype, 'name', dtype)}{list(shape or [])}")


@contextlib.contextmanager
def renamed(**names: str) -> Iterator[None]:
    """Errors raised inside name the caller's arguments: `renamed(decay="momentum")` turns
    "decay must be in [0, 1]" into "momentum must be in [0, 1]" (an alias passes its argument
    to a building block that calls it something else)."""
    try:
        yield
    except (ValueError, TypeError) as error:
        message = str(error)
        first = message.split(" ", 1)[0].rstrip(":")
        if first in names:
            raise type(error)(names[first] + message[len(first):]) from None
        raise


def _check_interval(
    name: str,
    number: float,
    given: Any,
    low: float,
    high: float,
    low_open: bool,
    high_open: bool,
    allow_infinite: bool,
) -> None:
    low_open = low_open or (math.isinf(low) and not allow_infinite)
    high_open = high_open or (math.isinf(high) and not allow_infinite)
    too_low = number <= low if low_open else number < low
    too_high = number >= high if high_open else number > high
    if math.isnan(number) or too_low or too_high:
        raise ValueError(
            f"{name} must be in {interval(low, high, low_open, high_open)}, got {given!r}"
        )


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
    """An optimizer's number in an interval; NaN never is, infinities only if allowed.

    A schedule is checked to give a scalar; its values, and traced values, are not known yet.
    """
    if callable(value):
        schedule(name, value)
        return
    if _is_traced(value):
        return
    _check_interval(
        name, real(name, value), value, low, high, low_open, high_open, allow_infinite
    )


def non_negative(name: str, value: Any) -> None:
    in_range(name, value, 0.0)


def positive(name: str, value: Any) -> None:
    in_range(name, value, 0.0, low_open=True)


def decay_rate(name: str, value: Any) -> None:
    """A moving-average decay: in [0, 1)."""
    in_range(name, value, 0.0, 1.0, high_open=True)


def fixed_number(name: str, value: Any) -> None:
    """Refuse a schedule where only a fixed number makes sense."""
    if callable(value):
        raise TypeError(f"{name} must be a number, not a schedule; got {value!r}")


def finite(
    name: str,
    value: Any,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    low_open: bool = False,
    high_open: bool = False,
    concrete: bool = False,
) -> Any:
    """A schedule's finite real number in an interval, returned as a Python float.

    A traced value is returned as it is, unless `concrete` (the argument shapes the
    computation), which makes it a TypeError.
    """
    if _is_traced(value):
        if concrete:
            raise TypeError(f"{name} must be a concrete number, not a traced value: {value!r}")
        return value
    number = real(name, value, noun="a real number")
    if math.isinf(number):
        raise ValueError(f"{name} must be in {interval(low, high, low_open, high_open)}, "
                         f"got {value!r}")
    _check_interval(name, number, value, low, high, low_open, high_open, False)
    return number


def integer(
    name: str,
    value: Any,
    low: int = 0,
    high: int | None = None,
    *,
    concrete: bool = True,
    integral_floats: bool = False,
    as_interval: bool = False,
) -> Any:
    """An integer in `[low, high]` (`high` None: unbounded), returned as a Python int.

    `concrete=False` lets a traced value through unchecked (an injected period, say);
    `integral_floats` accepts `1e4` for 10000 (configs often spell step counts that way, and
    then a value of another type is a TypeError, else a ValueError). The allowed range reads
    "a positive integer" / "an integer >= low", or with `as_interval` (always with a `high`)
    "an integer in [low, high]", as the schedules write every range.
    """
    words = not (as_interval or high is not None)
    if _is_traced(value):
        if concrete:
            raise TypeError(f"{name} must be a concrete integer, not a traced value: {value!r}")
        return value
    array = None if isinstance(value, (str, bytes, bool)) else np.asarray(value)
    kinds = (np.integer, np.floating) if integral_floats else (np.integer,)
    if array is None or array.ndim != 0 or not any(np.issubdtype(array.dtype, k) for k in kinds):
        allowed = _integer_words(low) if words else "an integer"
        error = TypeError if integral_floats else ValueError
        if high is not None:
            allowed = f"an integer in [{low}, {high}]"
        raise error(f"{name} must be {allowed}, got {value!r}")
    number = array.item()
    if isinstance(number, float) and not (math.isfinite(number) and number.is_integer()):
        number = math.nan
    if math.isnan(number) or number < low or (high is not None and number > high):
        upper = "inf)" if high is None else f"{high}]"
        allowed = _integer_words(low) if words else f"an integer in [{low}, {upper}"
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return int(number)


MAX_STEP = 2**31 - 1
"""The largest step: optimizers count steps in int32 (saturating there)."""


def step_count(name: str, value: Any, low: int = 0) -> int:
    """A schedule's step count, period, boundary or batch size: a concrete integer >= `low`
    (`1e4` accepted), its range written as an interval, and at most `MAX_STEP`."""
    number = integer(name, value, low, integral_floats=True, as_interval=True)
    if number > MAX_STEP:
        raise ValueError(f"{name} must be at most {MAX_STEP} (steps are counted in int32, which "
                         f"saturates there), got {value!r}")
    return number


def _integer_words(low: int) -> str:
    return "a positive integer" if low == 1 else f"an integer >= {low}"


def choice(name: str, value: Any, options: tuple[str, ...]) -> str:
    """One of the given strings."""
    if not isinstance(value, str) or value not in options:
        shown = ", ".join(repr(option) for option in options)
        raise ValueError(f"{name} must be one of {shown}, got {value!r}")
    return value


def boolean(name: str, value: Any) -> bool:
    """True or False (a NumPy boolean too), nothing merely truthy."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)
