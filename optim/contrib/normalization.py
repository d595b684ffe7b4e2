"""Normalization of the whole gradient to unit global norm (optax.contrib.normalize, the
ascent step of sharpness-aware minimization)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from optim._core.base import EmptyState, GradientTransformation
from optim._core.structure import check_state, check_update_dtypes
from optim.tree import tree_global_norm

NormalizeState = EmptyState


def normalize() -> GradientTransformation:
    """`u = g / ||g||`, the global l2 norm over all leaves (optax.contrib.normalize).

    Departs from optax 0.2.8 at one point: a zero gradient gives a zero update, where optax
    divides 0 by 0 (NaN).
    """

    def update(updates, state, params=None, **extra):
        check_state(state, NormalizeState, "normalize")
        check_update_dtypes(updates)
        norm = tree_global_norm(updates)
        safe = jnp.where(norm > 0, norm, 1.0)
        return jax.tree.map(lambda g: (g / safe).astype(g.dtype), updates), state

    return GradientTransformation(lambda params: NormalizeState(), update)
