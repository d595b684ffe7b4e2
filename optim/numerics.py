"""optax's numerical helpers: norms with a floor and the safe gradient at it, a saturating
counter, and the global norm.

    safe_norm(x, min_norm)               max(||x||, min_norm), gradient 0 (not NaN) below
    safe_root_mean_squares(x, min_rms)   max(sqrt(mean |x|**2), min_rms), likewise
    safe_increment(count)                count + 1, saturating at the dtype's largest value
    global_norm(updates)                 the l2 norm of a whole tree (`tree_global_norm`)
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from optim.tree import tree_global_norm


def global_norm(updates: Any) -> jax.Array:
    """The l2 norm of a whole tree, `tree_global_norm(updates)` under optax's argument name."""
    return tree_global_norm(updates)


def _abs_sq(x: jax.Array) -> jax.Array:
    return (jnp.conj(x) * x).real if jnp.iscomplexobj(x) else jnp.square(x)


def safe_norm(
    x: ArrayLike,
    min_norm: ArrayLike,
    ord: int | float | str | None = None,  # noqa: A002 - numpy's and optax's name
    axis: int | tuple[int, ...] | None = None,
    keepdims: bool = False,
) -> jax.Array:
    """`max(norm(x, ord, axis), min_norm)` whose gradient is 0 where the norm is at most
    `min_norm`, not the NaN of the norm's gradient at 0.

    The norm is taken a second time of `x` with the entries under the floor replaced by ones,
    so that the branch not taken has a finite gradient (`jnp.where` differentiates both).
    `ord`, `axis` and `keepdims` as `jnp.linalg.norm`'s.
    """
    x = jnp.asarray(x)
    norm = jnp.linalg.norm(x, ord=ord, axis=axis, keepdims=True)
    floored = norm <= min_norm
    shown = jnp.linalg.norm(jnp.where(floored, jnp.ones_like(x), x), ord=ord, axis=axis,
                            keepdims=keepdims)
    if not keepdims:
        floored = jnp.squeeze(floored, axis=axis)
    return jnp.where(floored, min_norm, shown)


def safe_root_mean_squares(x: ArrayLike, min_rms: ArrayLike) -> jax.Array:
    """`max(sqrt(mean(|x|**2)), min_rms)` with a gradient of 0 (not NaN) under the floor."""
    x = jnp.asarray(x)
    floored = jnp.sqrt(jnp.mean(_abs_sq(x))) <= min_rms
    shown = jnp.sqrt(jnp.mean(_abs_sq(jnp.where(floored, jnp.ones_like(x), x))))
    return jnp.where(floored, min_rms, shown)


def safe_increment(count: ArrayLike) -> jax.Array:
    """`count + 1`, staying at the largest value of `count`'s dtype (integer or float) instead
    of wrapping around; a ValueError (as optax) for another dtype."""
    count = jnp.asarray(count)
    if jnp.issubdtype(count.dtype, jnp.integer):
        largest = jnp.iinfo(count.dtype).max
    elif jnp.issubdtype(count.dtype, jnp.floating):
        largest = jnp.finfo(count.dtype).max
    else:
        raise ValueError(f"safe_increment counts in an integer or float dtype, got {count.dtype}")
    largest = jnp.array(largest, count.dtype)
    return jnp.where(count < largest, count + jnp.array(1, count.dtype), largest)


safe_int32_increment = safe_increment
"""optax's older name of `safe_increment`."""
