"""Step arithmetic shared by the schedules: exact where the step is an integer, never overflowing.

A step is a Python int, an integer array (int32 by default, int64 under x64) or, inside
`join`, a float array. Anything that multiplies or adds works on a float copy of the step
(float32, or float64 under x64), so `2**31 - 1` never wraps around. Operations that cannot
overflow (comparing, subtracting a boundary, floor division and remainder by a period) stay
in integers when they can, because float32 stops resolving single steps beyond 2**24 and a
periodic schedule would then land in the wrong cycle. Negative steps are treated as step 0.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from _descent.dtypes import default_float

Schedule = Callable[[ArrayLike], jax.Array]


def _as_array(step: ArrayLike) -> jax.Array:
    """The step as an array; a Python int too large for the default int type becomes a float."""
    if isinstance(step, (int, np.integer)) and not isinstance(step, bool):
        int_dtype = jax.dtypes.canonicalize_dtype(jnp.int64)
        if abs(int(step)) > np.iinfo(int_dtype).max:
            return jnp.asarray(float(step), default_float())
        return jnp.asarray(step, int_dtype)
    return jnp.asarray(step)


def _is_int(step: jax.Array) -> bool:
    return jnp.issubdtype(step.dtype, jnp.integer)


def _fits(step: jax.Array, number: int) -> bool:
    return _is_int(step) and number <= jnp.iinfo(step.dtype).max


def as_float(step: ArrayLike) -> jax.Array:
    """The step as a float array (at least float32), negative steps clipped to 0."""
    step = _as_array(step)
    if not jnp.issubdtype(step.dtype, jnp.floating):
        step = step.astype(default_float())
    return jnp.maximum(step, 0)


def reached(step: ArrayLike, boundary: int) -> jax.Array:
    """`step >= boundary` as a boolean array, exact for integer steps."""
    step = _as_array(step)
    if _is_int(step) and boundary > jnp.iinfo(step.dtype).max:
        return jnp.zeros(step.shape, bool)
    # max(step, 0): a negative step is step 0, also for a boundary at 0.
    return jnp.maximum(step, 0) >= boundary


def since(step: ArrayLike, boundary: int) -> jax.Array:
    """`max(step - boundary, 0)`: integer when the step is, else float."""
    step = _as_array(step)
    if _fits(step, boundary):
        # Both sides are in [0, max], so the difference cannot overflow.
        return jnp.maximum(jnp.maximum(step, 0) - boundary, 0)
    return jnp.maximum(as_float(step) - boundary, 0)


def divmod_steps(step: ArrayLike, period: int) -> tuple[jax.Array, jax.Array]:
    """`(floor(step / period), step mod period)` as float arrays, exact for integer steps."""
    step = _as_array(step)
    if _fits(step, period):
        quotient, remainder = jnp.divmod(jnp.maximum(step, 0), period)
        return quotient.astype(default_float()), remainder.astype(default_float())
    t = as_float(step)
    period = float(period)  # a period past int32 (2 * a step_size) cannot be an int32 constant
    # Under jit XLA divides by a constant through its reciprocal, so `floor(t / period)` can
    # land one below (or above) at an exact multiple; the remainder puts it right.
    quotient = jnp.floor(t / period)
    remainder = t - quotient * period
    quotient = quotient + (remainder >= period) - (remainder < 0)
    return quotient, jnp.clip(t - quotient * period, 0, period)
