"""Masks and labels over params: a tree of Python values, a prefix of the params, or a function.

`add_decayed_weights`, `masked`, `partition`, `lars` and `muon` all take their masks (or
labels) this way, so `{"encoder": False, "head": True}` masks a whole encoder at once in each
of them. The values are chosen when the step is traced, so they are Python values (booleans,
strings), never arrays.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import numpy as np

MaskOrFn = Any | Callable[[Any], Any] | None
"""A tree of booleans with the params' structure (or a prefix of it), a function
`params -> mask`, or None."""


def broadcast_prefix(prefix: Any, tree: Any, what: str) -> Any:
    """Expand `prefix` (a tree whose leaves label whole subtrees of `tree`) to `tree`'s leaves.

    A leaf of `prefix` that sits where `tree` has a subtree labels every leaf of that subtree.
    """
    try:
        return jax.tree.map(
            lambda label, subtree: jax.tree.map(lambda _: label, subtree), prefix, tree
        )
    except ValueError as error:
        raise ValueError(
            f"params and {what} have different tree structures: {what} must have the "
            "structure of the params, or be a prefix of it:\n"
            f"  {what}: {jax.tree_util.tree_structure(prefix)}\n"
            f"  params: {jax.tree_util.tree_structure(tree)}"
        ) from error


def check_mask(mask: MaskOrFn, what: str = "mask") -> None:
    """A mask given as one value (not a tree, not a function) must be a boolean: checked when
    the transform is built."""
    if mask is None or is_function(mask) or not jax.tree_util.treedef_is_leaf(
            jax.tree.structure(mask)):
        return
    if not isinstance(mask, (bool, np.bool_)):
        raise TypeError(f"{what} must be a tree of booleans, a function params -> mask, or "
                        f"True/False; got {mask!r}")


def is_function(spec: Any) -> bool:
    """A mask or labels given as a function `params -> tree`: callable and not itself a tree
    with leaves (a callable pytree, an equinox module say, is read as the tree it is)."""
    return callable(spec) and jax.tree_util.treedef_is_leaf(jax.tree.structure(spec))


def resolve(spec: Any, tree: Any, what: str) -> list:
    """The labels (or mask values) of `tree`'s leaves, in leaf order: `spec` itself, or
    `spec(tree)` when it is a function, broadcast from a prefix."""
    chosen = spec(tree) if is_function(spec) else spec
    return jax.tree.leaves(broadcast_prefix(chosen, tree, what))


def resolve_mask(mask: MaskOrFn, tree: Any, what: str = "mask") -> list[bool]:
    """The mask's booleans for `tree`'s leaves, in leaf order (all True for None).

    Raises a TypeError for a leaf that is not a Python boolean (an array cannot decide
    which leaves a traced step touches).
    """
    if mask is None:
        return [True] * len(jax.tree.leaves(tree))
    values = resolve(mask, tree, what)
    for value in values:
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(
                f"{what} leaves must be Python booleans (decided when the step is traced), "
                f"got {value!r}"
            )
    return [bool(v) for v in values]
