"""optax.tree's constructors, casts and random trees under their short names:
`zeros_like`, `ones_like`, `full_like`, `cast`, `cast_like`, `dtype`, `random_like`,
`split_key_like`, `unwrap_random_key_data` (optax's semantics: `jnp.zeros_like` and friends
leaf by leaf)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike, DTypeLike


def zeros_like(tree: Any, dtype: DTypeLike | None = None) -> Any:
    """`jnp.zeros_like` of each leaf, in `dtype` or the leaf's own."""
    return jax.tree.map(lambda x: jnp.zeros_like(x, dtype=dtype), tree)


def ones_like(tree: Any, dtype: DTypeLike | None = None) -> Any:
    """`jnp.ones_like` of each leaf, in `dtype` or the leaf's own."""
    return jax.tree.map(lambda x: jnp.ones_like(x, dtype=dtype), tree)


def full_like(tree: Any, fill_value: ArrayLike, dtype: DTypeLike | None = None) -> Any:
    """`fill_value` in the shape of each leaf, in `dtype` or the leaf's own."""
    return jax.tree.map(lambda x: jnp.full_like(x, fill_value, dtype=dtype), tree)


def cast(tree: Any, dtype: DTypeLike | None) -> Any:
    """Every leaf as `dtype` (the tree unchanged when `dtype` is None)."""
    if dtype is None:
        return tree
    return jax.tree.map(lambda x: x.astype(dtype), tree)


def cast_like(tree: Any, other_tree: Any) -> Any:
    """Each leaf of `tree` in the dtype of the matching leaf of `other_tree` (leaves of
    `other_tree` without a dtype leave theirs as they are)."""
    return jax.tree.map(lambda x, o: x.astype(o.dtype) if hasattr(o, "dtype") else x,
                        tree, other_tree)


def _lower(a: Any, b: Any) -> Any:
    promoted = jnp.promote_types(a, b)
    if promoted == a:
        return b
    if promoted == b:
        return a
    raise ValueError(f"dtypes {a} and {b} are not ordered: neither promotes to the other")


def _higher(a: Any, b: Any) -> Any:
    return b if _lower(a, b) == a else a


def dtype(tree: Any, mixed_dtype_handler: str | None = None) -> Any:
    """The dtype of the tree's leaves. With leaves of several dtypes, `mixed_dtype_handler`
    decides: None raises a ValueError naming each leaf that differs from the first,
    "promote" gives their promotion, "highest" / "lowest" the highest / lowest of them in
    the promotion order. An empty tree gives the default float dtype."""
    leaves = jax.tree.leaves(tree)
    if not leaves:
        return jnp.asarray(leaves).dtype
    dtypes = [jnp.asarray(x).dtype for x in leaves]
    if mixed_dtype_handler is None:
        paths = [path for path, _ in jax.tree_util.tree_leaves_with_path(tree)]
        wrong = [f"Expected dtype={dtypes[0]} for {jax.tree_util.keystr(p)} but got {d}"
                 for p, d in zip(paths, dtypes, strict=True) if d != dtypes[0]]
        if wrong:
            raise ValueError("\n".join(wrong))
        return dtypes[0]
    combine = {"promote": jnp.promote_types, "highest": _higher, "lowest": _lower}
    if mixed_dtype_handler not in combine:
        raise ValueError(
            f"mixed_dtype_handler must be None, 'promote', 'highest' or 'lowest', got "
            f"{mixed_dtype_handler!r}")
    return functools.reduce(combine[mixed_dtype_handler], dtypes)


def split_key_like(rng_key: jax.Array, target_tree: Any) -> Any:
    """One independent key per leaf of `target_tree`, in a tree of its structure."""
    structure = jax.tree.structure(target_tree)
    return jax.tree.unflatten(structure, list(jax.random.split(rng_key, structure.num_leaves)))


def random_like(rng_key: jax.Array, target_tree: Any, sampler: Callable = jax.random.normal,
                dtype: DTypeLike | None = None) -> Any:
    """A random tree shaped like `target_tree`: `sampler(key, shape, dtype)` per leaf with a
    key of its own (`split_key_like`), in `dtype` or each leaf's; a sampler that takes
    `out_sharding` is given each leaf's sharding."""
    keys = split_key_like(rng_key, target_tree)
    takes_sharding = "out_sharding" in inspect.signature(sampler).parameters

    def draw(leaf, key):
        if takes_sharding:
            return sampler(key, leaf.shape, dtype or leaf.dtype,
                           out_sharding=jax.typeof(leaf).sharding)
        return sampler(key, leaf.shape, dtype or leaf.dtype)

    return jax.tree.map(draw, target_tree, keys)


def unwrap_random_key_data(input_tree: Any) -> Any:
    """Typed PRNG keys (`jax.random.key`) replaced by their raw `uint32` data
    (`jax.random.key_data`); other leaves unchanged."""
    def unwrap(x):
        if isinstance(x, jax.Array) and jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
            return jax.random.key_data(x)
        return x

    return jax.tree.map(unwrap, input_tree)
