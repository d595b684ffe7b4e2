"""Stateless transforms from a function of one leaf: `stateless_with_tree_map`, and
`init_empty_state`, the init of every transform that keeps no state (optax's names)."""

from __future__ import annotations

from collections.abc import Callable

import jax

from optim._core.base import EmptyState, GradientTransformation, Params


def init_empty_state(params: Params) -> EmptyState:
    """The init of a transform without state: `EmptyState()` whatever the params."""
    return EmptyState()


def stateless_with_tree_map(
    f: Callable[[jax.Array, jax.Array | None], jax.Array],
) -> GradientTransformation:
    """A stateless transform applying `f(update, param)` leaf by leaf (`param` None when
    `update` is called without params). As optax's; `stateless` takes a function of whole
    trees."""
    if not callable(f):
        raise TypeError(f"f must be a callable (update, param) -> update, got {f!r}")

    def update(updates, state, params=None, **extra):
        if params is None:
            return jax.tree.map(lambda u: f(u, None), updates), state
        return jax.tree.map(f, updates, params), state

    return GradientTransformation(init_empty_state, update)
