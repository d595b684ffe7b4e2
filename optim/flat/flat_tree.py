"""Flat parameters: a pytree of many leaves held as a few 1-D buffers, one per dtype.

    flat = optim.flatten_params(params) # FlatTree: {"float32": (n,), "bfloat16": (m,)}
    params = flat.unflatten()           # the original tree, leaf for leaf, bit for bit

A `FlatTree` is itself a pytree whose leaves are the buffers, and its layout (the original
tree structure, shapes, dtypes and offsets) is static data of its tree structure. So every
elementwise transform runs on it unchanged, with one fused pass per buffer instead of one per
leaf, `apply_updates(flat, updates)` is one addition per buffer, and a jitted step that takes
and returns a `FlatTree` never retraces. `optim.fused` (optim/flat/fused.py) builds on it.

Grouping: leaves are concatenated in tree order by dtype. A leaf spread over several devices
(sharded, not fully replicated) is never concatenated with others, which would move data
between devices: it keeps a buffer of its own, in its own shape and sharding, named
`"<dtype><path>"` (e.g. `"float32['dense']['w']"`). The choice reads each leaf's sharding: a
concrete array's (or a `jax.ShapeDtypeStruct`'s), or inside `jit` the sharding of a tracer's
type, which on a mesh of Explicit axes is the array's own; on Auto axes a tracer carries none
and is grouped by dtype. So flatten sharded params eagerly (`optim.flatten_params`), once: the
`FlatTree` then fixes the layout for every later trace.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


@dataclasses.dataclass(frozen=True)
class Layout:
    """Where each leaf of a tree lives in a `FlatTree` (static, hashable)."""

    treedef: Any  # jax PyTreeDef of the original tree
    shapes: tuple[tuple[int, ...], ...]
    dtypes: tuple[np.dtype, ...]
    groups: tuple[str, ...]  # the buffer of each leaf
    offsets: tuple[int, ...]  # each leaf's first entry in its buffer
    names: tuple[str, ...]  # the buffers, in order
    standalone: tuple[bool, ...]  # per buffer: one leaf kept in its own shape (sharded)

    def sizes(self) -> dict[str, int]:
        """The number of entries of each buffer."""
        sizes = dict.fromkeys(self.names, 0)
        for group, shape in zip(self.groups, self.shapes, strict=True):
            sizes[group] += math.prod(shape)
        return sizes

    def describe(self) -> str:
        return f"{self.treedef.num_leaves} leaves in buffers " + ", ".join(
            f"{name}[{size}]" for name, size in self.sizes().items()
        )


def _is_spread(leaf: Any) -> bool:
    """True for a leaf sharded over several devices (not fully replicated): concatenated with
    others into one buffer, it would be gathered onto one device every step."""
    if isinstance(leaf, jax.core.Tracer):
        # Under jit, only Explicit mesh axes show in the type (Auto ones read as None).
        spec = getattr(jax.typeof(leaf).sharding, "spec", ())
        return any(axis is not None for axis in spec)
    sharding = getattr(leaf, "sharding", None)
    if not isinstance(leaf, (jax.Array, jax.ShapeDtypeStruct)) or sharding is None:
        return False
    return len(sharding.device_set) > 1 and not sharding.is_fully_replicated


def layout_of(tree: Any, concat_below: int | None = None) -> Layout:
    """The layout `flatten_params` uses for `tree`: dtype groups; sharded leaves on their own, and
    leaves of `concat_below` entries or more on their own too when it is given."""
    paths_leaves, treedef = jax.tree_util.tree_flatten_with_path(tree)
    shapes, dtypes, groups, offsets = [], [], [], []
    names: list[str] = []
    standalone: list[bool] = []
    fill: dict[str, int] = {}
    for path, leaf in paths_leaves:
        shape = tuple(jnp.shape(leaf))
        dtype = np.dtype(jnp.result_type(leaf))
        big = concat_below is not None and math.prod(shape) >= concat_below
        if big or _is_spread(leaf):
            group = f"{dtype.name}{jax.tree_util.keystr(path)}"
            names.append(group)
            standalone.append(True)
            offset = 0
        else:
            group = dtype.name
            if group not in fill:
                names.append(group)
                standalone.append(False)
                fill[group] = 0
            offset = fill[group]
            fill[group] += math.prod(shape)
        shapes.append(shape)
        dtypes.append(dtype)
        groups.append(group)
        offsets.append(offset)
    return Layout(
        treedef,
        tuple(shapes),
        tuple(dtypes),
        tuple(groups),
        tuple(offsets),
        tuple(names),
        tuple(standalone),
    )


class FlatTree:
    """A tree held as a few flat buffers; a pytree whose leaves are the buffers.

    `buffers` maps each buffer's name (its dtype, e.g. `"float32"`) to a 1-D array; `layout`
    records where each leaf of the original tree lives. Build one with `optim.flatten_params`, get
    the tree back with `.unflatten()`.
    """

    __slots__ = ("buffers", "layout")

    def __init__(self, buffers: dict[str, Any], layout: Layout):
        if tuple(buffers) != layout.names:
            raise ValueError(
                f"FlatTree buffers {tuple(buffers)} do not match its layout {layout.names}"
            )
        self.buffers = buffers
        self.layout = layout

    def unflatten(self) -> Any:
        """The original tree: each leaf sliced out of its buffer and reshaped (exact)."""
        return unflatten(self)

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{name}: {getattr(b, 'dtype', type(b).__name__)}{list(jnp.shape(b))}"
            for name, b in self.buffers.items()
        )
        return f"FlatTree({self.layout.treedef.num_leaves} leaves; {shown})"


def _flat_flatten_with_keys(flat: FlatTree):
    children = tuple((jax.tree_util.DictKey(name), b) for name, b in flat.buffers.items())
    return children, flat.layout


def _flat_unflatten(layout: Layout, buffers) -> FlatTree:
    return FlatTree(dict(zip(layout.names, buffers, strict=True)), layout)


jax.tree_util.register_pytree_with_keys(
    FlatTree,
    _flat_flatten_with_keys,
    _flat_unflatten,
    flatten_func=lambda flat: (tuple(flat.buffers.values()), flat.layout),
)


def check_layout(tree: Any, layout: Layout, name: str = "tree") -> None:
    """Raise a ValueError naming the difference when `tree` does not have `layout`'s leaves."""
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    if treedef != layout.treedef:
        raise ValueError(
            f"{name} does not match the flat layout: tree structures differ.\n"
            f"  {name}: {treedef}\n  layout: {layout.treedef}"
        )
    for i, leaf in enumerate(leaves):
        shape, dtype = tuple(jnp.shape(leaf)), np.dtype(jnp.result_type(leaf))
        if shape != layout.shapes[i] or dtype != layout.dtypes[i]:
            raise ValueError(
                f"{name} does not match the flat layout at leaf {i}: got {dtype}{list(shape)}, "
                f"the layout has {layout.dtypes[i]}{list(layout.shapes[i])}"
            )


def gather(tree: Any, layout: Layout) -> FlatTree:
    """Concatenate the leaves of `tree` into the buffers of `layout` (one concatenate each)."""
    check_layout(tree, layout)
    parts: dict[str, list] = {name: [] for name in layout.names}
    for leaf, group in zip(jax.tree_util.tree_leaves(tree), layout.groups, strict=True):
        parts[group].append(leaf)
    buffers = {}
    for name, alone in zip(layout.names, layout.standalone, strict=True):
        leaves = parts[name]
        if alone:
            buffers[name] = jnp.asarray(leaves[0])
        elif len(leaves) == 1:
            buffers[name] = jnp.ravel(leaves[0])
        else:
            buffers[name] = jnp.concatenate([jnp.ravel(x) for x in leaves])
    return FlatTree(buffers, layout)


def flatten_params(tree: Any, *, concat_below: int | None = None) -> FlatTree:
    """`tree` as a `FlatTree`: its leaves concatenated into one 1-D buffer per dtype.

    Exact: `flatten_params(tree).unflatten()` equals `tree` bit for bit, and an elementwise
    transform gives the same bits on the flat buffers as leaf by leaf. Call it once, outside the
    training loop, and keep the params flat (see `optim.fused`). A sharded leaf keeps a buffer
    of its own, and so does every leaf of `concat_below` entries or more when it is given.
    """
    if isinstance(tree, FlatTree):
        return tree
    return gather(tree, layout_of(tree, concat_below))


def unflatten(flat: FlatTree) -> Any:
    """The tree a `FlatTree` holds: leaves sliced out of their buffers and reshaped."""
    if not isinstance(flat, FlatTree):
        raise TypeError(
            f"unflatten expects a FlatTree (from optim.flatten_params), got {type(flat)}"
        )
    layout = flat.layout
    by_group: dict[str, list[int]] = {name: [] for name in layout.names}
    for i, group in enumerate(layout.groups):
        by_group[group].append(i)
    leaves: list[Any] = [None] * len(layout.groups)
    for name, alone in zip(layout.names, layout.standalone, strict=True):
        buffer, members = flat.buffers[name], by_group[name]
        if alone or len(members) == 1:
            (i,) = members
            leaves[i] = jnp.reshape(buffer, layout.shapes[i])
            continue
        cuts = [layout.offsets[i] for i in members[1:]]
        for i, piece in zip(members, jnp.split(buffer, cuts), strict=True):
            leaves[i] = jnp.reshape(piece, layout.shapes[i])
    return jax.tree_util.tree_unflatten(layout.treedef, leaves)


def find_layout(tree: Any) -> Layout | None:
    """The layout of the first `FlatTree` inside `tree` (an optimizer state), or None."""
    for node in jax.tree_util.tree_leaves(tree, is_leaf=lambda x: isinstance(x, FlatTree)):
        if isinstance(node, FlatTree):
            return node.layout
    return None
