"""Clipping: bound each entry, or the norm of the whole update."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from _descent import validation
from optim._core.base import EmptyState, GradientTransformation, elementwise
from optim._core.steps import value_at
from optim._core.structure import check_update_dtypes
from optim.tree import tree_global_norm, tree_scale

ClipState = EmptyState
"""optax's name for `clip`'s state: none."""
ClipByGlobalNormState = EmptyState
"""optax's name for `clip_by_global_norm`'s state: none."""


def _clip_entries(u: jax.Array, bound: jax.Array) -> jax.Array:
    if jnp.iscomplexobj(u):
        # |u| <= bound with the phase kept: for a real u this is the clip to [-bound, bound].
        return u * (bound / jnp.maximum(jnp.abs(u), bound))
    return jnp.clip(u, -bound, bound)


def clip(max_delta: float) -> GradientTransformation:
    """Clip each entry to `[-max_delta, max_delta]`.

    A complex entry keeps its phase and has its modulus clipped, `u <- u max_delta /
    max(|u|, max_delta)`, the same rule read for `|u|`. optax's `clip` refuses complex
    updates; `optim.contrib.split_real_and_imaginary(clip(d))` clips the real and imaginary
    parts each instead (a box, not a disc).
    """
    validation.fixed_number("max_delta", max_delta)
    validation.positive("max_delta", max_delta)

    def update(updates, state, params=None, **extra):
        check_update_dtypes(updates, params)
        bound = value_at(max_delta, None)
        return jax.tree.map(lambda u: _clip_entries(u, bound).astype(u.dtype), updates), state

    return elementwise(GradientTransformation(lambda params: EmptyState(), update))


def clip_by_global_norm(max_norm: float) -> GradientTransformation:
    """Rescale the whole update so its global l2 norm is at most `max_norm`.

    `u <- u * max_norm / max(||u||, max_norm)`: unchanged when `||u|| <= max_norm`
    (Pascanu et al. 2013, "On the difficulty of training recurrent neural networks").
    The norm is accumulated in at least float32; for complex updates it is
    `sqrt(sum |u|**2)`, as optax's.
    """
    validation.fixed_number("max_norm", max_norm)
    validation.positive("max_norm", max_norm)

    def update(updates, state, params=None, **extra):
        check_update_dtypes(updates, params)
        bound = value_at(max_norm, None)
        factor = bound / jnp.maximum(tree_global_norm(updates), bound)
        return tree_scale(factor, updates), state

    return elementwise(GradientTransformation(lambda params: EmptyState(), update))
