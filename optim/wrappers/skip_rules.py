"""optax's rules for skipping a step of `MultiSteps`: `skip_not_finite`, `skip_large_updates`.

Each is a function `(updates, gradient_step, params) -> (should_skip, info)`, `should_skip` a
scalar bool array and `info` a dict of scalars to keep in the state (optax's
`ShouldSkipUpdateFunction`); `skip_large_updates` takes its threshold as a fourth argument, to
be bound with `functools.partial`.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from _descent import validation
from optim.tree import tree_sum_of_squares


def skip_not_finite(
    updates: Any, gradient_step: ArrayLike, params: Any
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Skip when an entry of `updates` is NaN or infinite.

    Returns `(should_skip, {"should_skip": ..., "num_not_finite": ...})`, the second the
    number of such entries (int32).
    """
    counts = [jnp.sum(~jnp.isfinite(x), dtype=jnp.int32) for x in jax.tree.leaves(updates)]
    num_not_finite = sum(counts, jnp.zeros((), jnp.int32))
    should_skip = num_not_finite > 0
    return should_skip, {"should_skip": should_skip, "num_not_finite": num_not_finite}


def skip_large_updates(
    updates: Any, gradient_step: ArrayLike, params: Any, max_squared_norm: ArrayLike
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Skip unless `||updates||**2 < max_squared_norm` (so a NaN norm skips too).

    Returns `(should_skip, {"should_skip": ..., "norm_squared": ...})`; the squared norm is
    summed in at least float32.
    """
    validation.in_range("max_squared_norm", max_squared_norm, 0.0, math.inf,
                        allow_infinite=True)
    norm_squared = tree_sum_of_squares(updates)
    should_skip = jnp.logical_not(norm_squared < max_squared_norm)
    return should_skip, {"should_skip": should_skip, "norm_squared": norm_squared}
