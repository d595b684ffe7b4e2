"""Default dtypes, looked up when a function is traced (so they follow `jax.enable_x64`)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


def default_float() -> np.dtype:
    """float32, or float64 when x64 is enabled."""
    return jax.dtypes.canonicalize_dtype(jnp.float64)


def scalar_dtype(tree: Any) -> np.dtype:
    """The dtype of scalars computed about a tree (losses, step sizes, averaging weights):
    the widest float of its leaves, at least float32 (bfloat16 params give float32)."""
    leaves = jax.tree.leaves(tree)
    return jnp.promote_types(jnp.result_type(*leaves) if leaves else jnp.float32, jnp.float32)
