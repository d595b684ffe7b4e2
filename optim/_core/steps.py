"""Step counters and the value of a hyperparameter at a step."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from optim._core.base import ScalarOrSchedule


def step_counter() -> jax.Array:
    """A fresh int32 step counter."""
    return jnp.zeros([], jnp.int32)


def safe_increment(count: jax.Array) -> jax.Array:
    """`count + 1` for an int32 step counter, saturating at the int32 maximum."""
    limit = jnp.iinfo(jnp.int32).max
    return jnp.where(count < limit, count + 1, limit).astype(jnp.int32)


def value_at(hyperparameter: ScalarOrSchedule, count: jax.Array) -> jax.Array:
    """A hyperparameter's value at step `count` as an array: the number, or the schedule called.

    Numbers become (weakly typed) arrays before any arithmetic, so that an optimizer built with
    `0.9` and one whose `0.9` was injected as state (`inject_hyperparams`) compute bit for bit
    the same thing, and a low-precision gradient is not promoted by a Python float.
    """
    return jnp.asarray(hyperparameter(count) if callable(hyperparameter) else hyperparameter)
