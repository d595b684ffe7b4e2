"""`flatten(inner)`: run a transform on one vector, every leaf's entries concatenated. As optax's
`optax.flatten` (`optax.transforms._layouts`): the state is the inner transform's own.

Not `optim.flatten_params`, which builds a `FlatTree` (one buffer per dtype, kept flat across
steps, for `optim.fused`); this wrapper concatenates and splits again at every step.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from optim._core.base import GradientTransformation, elementwise_if, is_elementwise
from optim._core.combine import call_update
from optim._core.structure import as_transform, check_same_structure


def _concatenate(tree: Any) -> jax.Array:
    """Every leaf raveled, in leaf order, as one 1-D array (in the leaves' promoted dtype)."""
    leaves = jax.tree.leaves(tree)
    if not leaves:
        return jnp.zeros([0])
    return jnp.concatenate([jnp.ravel(x) for x in leaves])


def _split(vector: jax.Array, like: Any) -> Any:
    """`vector` cut back into `like`'s leaves: their shapes and dtypes, their tree."""
    leaves, treedef = jax.tree.flatten(like)
    ends = np.cumsum([np.size(x) for x in leaves])[:-1]
    pieces = jnp.split(vector, ends) if leaves else []
    return treedef.unflatten([
        jnp.reshape(piece, jnp.shape(x)).astype(jnp.result_type(x))
        for piece, x in zip(pieces, leaves, strict=True)
    ])


def flatten(inner: GradientTransformation) -> GradientTransformation:
    """`inner` applied to the params and updates concatenated into one 1-D vector.

        u = split(inner.update(concat(g), state, concat(params)))

    One vector instead of many small leaves can be cheaper for a transform with per-leaf
    overhead; a transform that treats leaves differently (per-layer norms, factored moments)
    sees one leaf instead, and so computes something else. The state is `inner`'s state for
    that vector; keyword extras reach `inner` unchanged. As optax's `flatten`.
    """
    inner = as_transform(inner, "flatten's inner")

    def init(params):
        return inner.init(_concatenate(params))

    def update(updates, state, params=None, **extra):
        if params is not None:
            check_same_structure(updates, params, "updates", "params")
        flat_params = None if params is None else _concatenate(params)
        out, state = call_update(inner, _concatenate(updates), state, flat_params, extra)
        return _split(out, updates), state

    return elementwise_if(is_elementwise(inner), GradientTransformation(init, update))
