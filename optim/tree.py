"""All the pytree maths of the library, so that transforms read like their formulas.

Dtype rules: moments keep the params' dtype unless a `dtype` is given; updates keep the
gradients' dtype; hyperparameters (Python numbers or float32 arrays) never change either.
Structure checks happen at trace time, in Python, and cost nothing at run time.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from optim.base import ScalarOrSchedule


def _describe(tree: Any) -> str:
    leaves = jax.tree_util.tree_leaves_with_path(tree)
    shown = ", ".join(
        f"{jax.tree_util.keystr(path) or '<root>'}: {getattr(leaf, 'dtype', type(leaf).__name__)}"
        f"{list(getattr(leaf, 'shape', ()))}"
        for path, leaf in leaves[:6]
    )
    more = f", ... ({len(leaves)} leaves)" if len(leaves) > 6 else ""
    return f"{jax.tree_util.tree_structure(tree)} [{shown}{more}]"


def check_same_structure(
    a: Any, b: Any, a_name: str, b_name: str, *, shapes: bool = True
) -> None:
    """Raise a ValueError naming both sides if `a` and `b` differ in tree structure or shapes."""
    struct_a = jax.tree_util.tree_structure(a)
    struct_b = jax.tree_util.tree_structure(b)
    if struct_a != struct_b:
        raise ValueError(
            f"{a_name} and {b_name} have different tree structures:\n"
            f"  {a_name}: {_describe(a)}\n  {b_name}: {_describe(b)}"
        )
    if not shapes:
        return
    for (path, leaf_a), leaf_b in zip(
        jax.tree_util.tree_leaves_with_path(a), jax.tree_util.tree_leaves(b), strict=True
    ):
        shape_a, shape_b = jnp.shape(leaf_a), jnp.shape(leaf_b)
        if shape_a != shape_b:
            raise ValueError(
                f"{a_name} and {b_name} differ in shape at {jax.tree_util.keystr(path)}: "
                f"{a_name} has {shape_a}, {b_name} has {shape_b}"
            )


def check_float_params(params: Any) -> None:
    """Raise a TypeError naming the first leaf that is not a floating-point array."""
    for path, leaf in jax.tree_util.tree_leaves_with_path(params):
        dtype = jnp.result_type(leaf)
        if not jnp.issubdtype(dtype, jnp.floating):
            raise TypeError(
                f"params must be floating-point arrays; the leaf at "
                f"{jax.tree_util.keystr(path) or '<root>'} has dtype {dtype}. "
                "Cast it (e.g. jnp.asarray(x, jnp.float32)) or exclude it with optim.masked."
            )


def tree_zeros_like(tree: Any, dtype: Any = None) -> Any:
    """Zeros with the structure and shapes of `tree`, in `dtype` or each leaf's own dtype."""
    return jax.tree.map(lambda x: jnp.zeros(jnp.shape(x), dtype or jnp.result_type(x)), tree)


def tree_full_like(tree: Any, value: ArrayLike, dtype: Any = None) -> Any:
    """`value` everywhere, with the structure of `tree`, in `dtype` or each leaf's dtype."""
    return jax.tree.map(
        lambda x: jnp.full(jnp.shape(x), value, dtype or jnp.result_type(x)), tree
    )


def tree_cast(tree: Any, dtype: Any) -> Any:
    """Cast every leaf to `dtype` (no-op when `dtype` is None)."""
    if dtype is None:
        return tree
    return jax.tree.map(lambda x: jnp.asarray(x, dtype), tree)


def tree_cast_like(tree: Any, like: Any) -> Any:
    """Cast each leaf of `tree` to the dtype of the matching leaf of `like`."""
    return jax.tree.map(lambda x, y: jnp.asarray(x, jnp.result_type(y)), tree, like)


def tree_add(a: Any, b: Any) -> Any:
    return jax.tree.map(jnp.add, a, b)


def tree_sub(a: Any, b: Any) -> Any:
    return jax.tree.map(jnp.subtract, a, b)


def tree_scale(scalar: ArrayLike, tree: Any) -> Any:
    """`scalar * tree`, each leaf keeping its dtype."""
    return jax.tree.map(lambda x: (scalar * x).astype(x.dtype), tree)


def tree_add_scaled(a: Any, scalar: ArrayLike, b: Any) -> Any:
    """`a + scalar * b`, each leaf keeping the dtype of `a`."""
    return jax.tree.map(lambda x, y: (x + scalar * y).astype(x.dtype), a, b)


def tree_vdot(a: Any, b: Any) -> jax.Array:
    """The inner product of two trees, summed in at least float32."""
    def one(x, y):
        # Cast before the product: jnp.vdot of two bfloat16 vectors also sums in bfloat16.
        dtype = jnp.promote_types(jnp.result_type(x, y), jnp.float32)
        return jnp.vdot(x.astype(dtype), y.astype(dtype))

    parts = [one(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)]
    return sum(parts, jnp.zeros((), jnp.float32))


def tree_sum_of_squares(tree: Any) -> jax.Array:
    """The sum of squares of all entries, accumulated in at least float32."""
    parts = [
        jnp.sum(jnp.square(x.astype(jnp.promote_types(x.dtype, jnp.float32))))
        for x in jax.tree.leaves(tree)
    ]
    return sum(parts, jnp.zeros((), jnp.float32))


def tree_global_norm(tree: Any) -> jax.Array:
    """The l2 norm of all the entries of a tree taken as one vector."""
    return jnp.sqrt(tree_sum_of_squares(tree))


def tree_all_finite(tree: Any) -> jax.Array:
    """A scalar boolean: True when no entry of the tree is NaN or Inf."""
    leaves = jax.tree.leaves(tree)
    if not leaves:
        return jnp.array(True)
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))


def tree_where(condition: ArrayLike, on_true: Any, on_false: Any) -> Any:
    """Pick `on_true` or `on_false` leaf by leaf by a scalar condition (no host sync)."""
    return jax.tree.map(lambda x, y: jnp.where(condition, x, y), on_true, on_false)


def update_moment(updates: Any, moments: Any, decay: ArrayLike, order: int) -> Any:
    """The moving average `decay * m + (1 - decay) * g**order`, in the moments' dtype."""
    decay = jnp.asarray(decay)

    def one(g, m):
        g = g.astype(m.dtype)
        term = g if order == 1 else (g * g if order == 2 else g**order)
        return (decay * m + (1 - decay) * term).astype(m.dtype)

    return jax.tree.map(one, updates, moments)


def bias_correction(moments: Any, decay: ArrayLike, count: jax.Array) -> Any:
    """Adam's debiasing `m / (1 - decay**count)`; `count` is the 1-based step number.

    Computed as `m * (1 / (1 - decay**count))`: one reciprocal of the shared scalar, then a
    product per entry. XLA rewrites a division by a broadcast scalar into that product in some
    programs and not in others (it depends on how many arrays share the scalar), so writing the
    product ourselves gives every leaf the same bits whatever its siblings, leaf by leaf or in
    `optim.fused`'s flat buffers.
    """
    decay = jnp.asarray(decay)
    inverse = 1 / (1 - decay ** count.astype(decay.dtype))
    return jax.tree.map(lambda m: (m * inverse).astype(m.dtype), moments)


def safe_increment(count: jax.Array) -> jax.Array:
    """`count + 1` for an int32 step counter, saturating at the int32 maximum."""
    limit = jnp.iinfo(jnp.int32).max
    return jnp.where(count < limit, count + 1, limit).astype(jnp.int32)


def step_counter() -> jax.Array:
    """A fresh int32 step counter."""
    return jnp.zeros([], jnp.int32)


def value_at(hyperparameter: ScalarOrSchedule, count: jax.Array) -> jax.Array:
    """A hyperparameter's value at step `count` as an array: the number, or the schedule called.

    Numbers become (weakly typed) arrays before any arithmetic, so that an optimizer built with
    `0.9` and one whose `0.9` was injected as state (`inject_hyperparams`) compute bit for bit
    the same thing, and a low-precision gradient is not promoted by a Python float.
    """
    return jnp.asarray(hyperparameter(count) if callable(hyperparameter) else hyperparameter)
