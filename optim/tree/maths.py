"""The pytree maths the transforms use, so that they read like their formulas.

    optim.tree.tree_global_norm(grads)            # also optim.tree_global_norm
    optim.tree.update_moment(grads, mu, 0.9, 1)   # 0.9 mu + 0.1 g, leaf by leaf

Dtype rules: moments keep the params' dtype unless a `dtype` is given; updates keep the
gradients' dtype; hyperparameters (Python numbers or float32 arrays) never change either.
Sums and norms accumulate in at least float32.

Sharding rule: a tree built like the params (`tree_zeros_like`, `tree_full_like`, `tree_copy`)
keeps each leaf's sharding, so that the state of params spread over devices is spread the same
way instead of gathered on one device (`optim.state_shardings` gives the same under `jit`).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from optim._core.numerics import saturate, saturated_abs_square, saturated_square


def tree_zeros_like(tree: Any, dtype: Any = None) -> Any:
    """Zeros with the structure, shapes and shardings of `tree`, in `dtype` or each leaf's own
    dtype (always a strong dtype: a weakly typed leaf gives strongly typed zeros)."""
    return tree_full_like(tree, 0, dtype)


def tree_full_like(tree: Any, value: ArrayLike, dtype: Any = None) -> Any:
    """`value` everywhere, with the structure, shapes and shardings of `tree`, in `dtype` or
    each leaf's dtype.

    `jnp.full_like` keeps a committed leaf's sharding (`jnp.full` would put the result on one
    device); the dtype is passed explicitly because without one `full_like` keeps a weakly
    typed leaf weak, which would change the state's dtypes from one program to another.
    """
    return jax.tree.map(
        lambda x: jnp.full_like(x, value, dtype=dtype or jnp.result_type(x)), tree
    )


def tree_cast(tree: Any, dtype: Any) -> Any:
    """Cast every leaf to `dtype` (no-op when `dtype` is None). A real `dtype` names the
    precision of a complex leaf, which stays complex (float32 gives complex64): a `mu_dtype`
    never drops the imaginary part of a first moment."""
    if dtype is None:
        return tree

    def one(x):
        x = jnp.asarray(x)
        if jnp.iscomplexobj(x):
            return x.astype(jnp.promote_types(dtype, jnp.complex64))
        return x.astype(dtype)

    return jax.tree.map(one, tree)


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
    """The inner product `sum conj(a) b` of two trees (`a` conjugated, as `jnp.vdot` and
    optax), summed in at least float32."""
    def one(x, y):
        # Cast before the product: jnp.vdot of two bfloat16 vectors also sums in bfloat16.
        dtype = jnp.promote_types(jnp.result_type(x, y), jnp.float32)
        return jnp.vdot(x.astype(dtype), y.astype(dtype))

    parts = [one(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)]
    return sum(parts, jnp.zeros((), jnp.float32))


def _wide(x: jax.Array) -> jax.Array:
    return x.astype(jnp.promote_types(x.dtype, jnp.float32))


def _abs_square(x: jax.Array) -> jax.Array:
    """`|x|**2`: `x * x` for a real x, `re**2 + im**2` for a complex one (real either way)."""
    if jnp.iscomplexobj(x):
        return jnp.square(jnp.real(x)) + jnp.square(jnp.imag(x))
    return jnp.square(x)


def tree_sum_of_squares(tree: Any) -> jax.Array:
    """The sum of `|x|**2` over all entries (real for complex leaves, as optax's norms),
    accumulated in at least float32."""
    parts = [jnp.sum(_abs_square(_wide(x))) for x in jax.tree.leaves(tree)]
    return sum(parts, jnp.zeros((), jnp.float32))


def _rescaled_norm(tree: Any) -> jax.Array:
    """The norm with every entry divided by the largest first, as BLAS's nrm2: the squares of
    entries up to the dtype's largest value do not overflow."""
    leaves = [_wide(x) for x in jax.tree.leaves(tree)]
    biggest = jnp.max(jnp.stack([jnp.max(jnp.abs(x), initial=0.0) for x in leaves]))
    unit = jnp.where(jnp.isfinite(biggest) & (biggest > 0), biggest, 1.0)
    ratio = sum((jnp.sum(_abs_square(x / unit)) for x in leaves), jnp.zeros((), unit.dtype))
    # An inf entry makes the norm inf, a NaN makes it NaN (not the NaN of inf / inf).
    return jnp.where(jnp.isfinite(biggest), unit * jnp.sqrt(ratio), biggest)


def tree_global_norm(tree: Any) -> jax.Array:
    """The l2 norm of all the entries of a tree taken as one vector, in at least float32.

    `sqrt(sum |x|**2)`; when that sum overflows (entries beyond about 1e19 in float32) the
    norm is taken again on the entries divided by the largest one, so that a huge but finite
    gradient still has its finite norm (and `clip_by_global_norm` its direction).
    """
    total = tree_sum_of_squares(tree)
    if not jax.tree.leaves(tree):
        return jnp.sqrt(total)
    return jax.lax.cond(
        jnp.isfinite(total) | jnp.isnan(total),
        lambda: jnp.sqrt(total),
        lambda: _rescaled_norm(tree).astype(total.dtype),
    )


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
    """The moving average `decay * m + (1 - decay) * g**order`, in the moments' dtype.

    For a complex `g` and an even `order` the power is `|g|**order` (`order=2`: g times its
    conjugate, as optax's second moments), real, and the moments are real (`real_moments_like`);
    `order=1` keeps the complex `g` in complex moments. `g**order` and the average saturate
    at the dtype's largest value (`optim/_core/numerics.py`): a finite gradient never makes a
    moment infinite.
    """
    decay = jnp.asarray(decay)

    def one(g, m):
        if order % 2 == 0 and jnp.iscomplexobj(g):
            g = g.astype(jnp.promote_types(g.dtype, m.dtype))
            power = saturated_abs_square(g) ** (order // 2)
            return saturate(decay * m + (1 - decay) * power.astype(m.dtype)).astype(m.dtype)
        g = g.astype(m.dtype)
        if order == 1:  # a convex combination of two finite numbers cannot overflow
            return (decay * m + (1 - decay) * g).astype(m.dtype)
        term = saturated_square(g) if order == 2 else saturate(g**order)
        # The products are rounded before the sum, which may pass the largest value by an ulp.
        return saturate(decay * m + (1 - decay) * term).astype(m.dtype)

    return jax.tree.map(one, updates, moments)


def bias_correction(moment: Any, decay: ArrayLike, count: jax.Array) -> Any:
    """Adam's debiasing `m / (1 - decay**count)`; `count` is the 1-based step number.

    Computed as `m * (1 / (1 - decay**count))`: one reciprocal of the shared scalar, then a
    product per entry. XLA rewrites a division by a broadcast scalar into that product in some
    programs and not in others (it depends on how many arrays share the scalar), so writing the
    product ourselves gives every leaf the same bits whatever its siblings, leaf by leaf or in
    `optim.fused`'s flat buffers.
    """
    decay = jnp.asarray(decay)
    inverse = 1 / (1 - decay ** jnp.asarray(count).astype(decay.dtype))
    # Saturated: a second moment near the dtype's largest value, debiased, stays finite.
    return jax.tree.map(lambda m: saturate(m * inverse).astype(m.dtype), moment)


def tree_unzip(results: Any, like: Any, parts: int) -> tuple:
    """`parts` trees with the structure of `like` from a tree of `parts`-tuples (one tuple per
    leaf of `like`), e.g. the (update, new moment) a per-leaf rule returns. An empty `like`
    gives `parts` empty trees."""
    outer = jax.tree.structure(like)
    if outer.num_leaves == 0:
        return (like,) * parts
    return tuple(jax.tree.transpose(outer, jax.tree.structure((0,) * parts), results))


def tree_copy(tree: Any) -> Any:
    """Fresh buffers holding the same values, with the same shardings: a state initialised from
    the params must not share their buffers, or a step that donates both would donate one
    buffer twice. (`jnp.array` copies by default and keeps a committed array's sharding.)"""
    return jax.tree.map(jnp.array, tree)
