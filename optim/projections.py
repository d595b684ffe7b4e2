"""Euclidean projections onto convex sets, for projected gradient descent: optax.projections'
names, keywords and defaults.

Each function returns `P(x) = argmin_{p in C} ||x - p||_2`, the nearest point of a set `C`,
where `x` is a whole pytree read as one vector (every entry of every leaf):

    projection_non_negative(tree)              p >= 0
    projection_box(tree, lower, upper)         lower <= p <= upper
    projection_hypercube(tree, scale=1)        0 <= p <= scale
    projection_linf_ball(tree, scale=1)        ||p||_inf <= scale
    projection_l2_ball(tree, scale=1)          ||p||_2 <= scale
    projection_l2_sphere(tree, scale=1)        ||p||_2 = scale
    projection_simplex(tree, scale=1)          p >= 0, sum(p) = scale
    projection_l1_ball(tree, scale=1)          ||p||_1 <= scale
    projection_l1_sphere(tree, scale=1)        ||p||_1 = scale
    projection_hyperplane(x, a, b)             <a, p> = b
    projection_halfspace(x, a, b)              <a, p> <= b
    projection_vector(x, a)                    p on the line through 0 and a

Projected gradient descent takes a step and projects back: `params = P(params - lr * grad)`,
e.g. `optim.apply_updates` then `projection_simplex` after each step.

Each leaf keeps its dtype. Bad arguments raise a ValueError naming them when they are concrete
(a negative `scale`, `lower > upper` somewhere, a tree `a` shaped unlike `x`); traced values
(inside `jit`) cannot be read and pass unchecked. Where optax's result is undefined or wrong
this module's is a true projection: a scalar `lower`, `upper` or `scale` is broadcast over a
tree (optax's box needs a tree there); the sphere projections of a point with no direction
(`x = 0` for the l2 sphere, zero entries inside the l1 sphere) pick a nearest point, entries
of 0 counted as positive, instead of NaN or a point off the sphere.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from jax.typing import ArrayLike

from _descent import validation
from optim.tree.arithmetic import vdot


def _concrete(value: Any) -> bool:
    return not any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(value))


def _check_scale(scale: Any, *, tree: bool = False) -> None:
    """`scale` is a radius or a sum: a number >= 0, or with `tree` (the hypercube's) also a
    tree or array of them."""
    validation.fixed_number("scale", scale)
    one_leaf = jax.tree_util.treedef_is_leaf(jax.tree.structure(scale))
    if not tree or one_leaf and jnp.ndim(scale) == 0:
        validation.non_negative("scale", scale)
    elif _concrete(scale) and any(bool(np.any(~(np.asarray(leaf) >= 0)))
                                  for leaf in jax.tree.leaves(scale)):
        raise ValueError(f"scale must be >= 0 everywhere, got {scale!r}")


def _like(bound: Any, tree: Any) -> Any:
    """A bound for every leaf: a scalar (or one array) broadcast, or a tree shaped as `tree`."""
    structure = jax.tree.structure(bound)
    if jax.tree_util.treedef_is_leaf(structure) and jax.tree.structure(tree) != structure:
        return jax.tree.map(lambda _: bound, tree)
    return bound


def _same_structure(name_x: str, x: Any, name_a: str, a: Any) -> None:
    if jax.tree.structure(x) != jax.tree.structure(a):
        raise ValueError(f"{name_a} must be a tree of the structure of {name_x}: {name_x} is "
                         f"{jax.tree.structure(x)}, {name_a} is {jax.tree.structure(a)}")


def _cast_like(tree: Any, like: Any) -> Any:
    return jax.tree.map(lambda new, old: jnp.asarray(new).astype(jnp.result_type(old)),
                        tree, like)


def _scaled(factor: jax.Array, tree: Any) -> Any:
    return jax.tree.map(lambda x: (factor * x).astype(jnp.result_type(x)), tree)


def projection_non_negative(tree: Any) -> Any:
    """`p = max(x, 0)` entry by entry: the projection onto the non-negative orthant."""
    return jax.tree.map(lambda x: jnp.maximum(x, jnp.zeros((), jnp.result_type(x))), tree)


def projection_box(tree: Any, lower: Any, upper: Any) -> Any:
    """`p = min(max(x, lower), upper)` entry by entry: the projection onto a box.

    `lower` and `upper` are scalars (broadcast over every leaf) or trees of the structure of
    `tree` whose leaves broadcast against its leaves. When both are concrete, `lower > upper`
    anywhere (an empty box) raises a ValueError.
    """
    lower, upper = _like(lower, tree), _like(upper, tree)
    _same_structure("tree", tree, "lower", lower)
    _same_structure("tree", tree, "upper", upper)
    if _concrete((lower, upper)) and any(
            bool(np.any(np.asarray(lo) > np.asarray(hi)))
            for lo, hi in zip(jax.tree.leaves(lower), jax.tree.leaves(upper), strict=True)):
        raise ValueError(f"lower must be <= upper everywhere (an empty box otherwise), got "
                         f"lower={lower!r}, upper={upper!r}")
    return jax.tree.map(
        lambda x, lo, hi: jnp.minimum(jnp.maximum(x, lo), hi).astype(jnp.result_type(x)),
        tree, lower, upper)


def projection_hypercube(tree: Any, scale: Any = 1) -> Any:
    """`projection_box(tree, 0, scale)`: the hypercube `0 <= p <= scale` (the unit one by
    default); `scale >= 0`, a scalar or a tree of the structure of `tree`."""
    _check_scale(scale, tree=True)
    return projection_box(tree, lower=0, upper=scale)


def projection_linf_ball(tree: Any, scale: ArrayLike = 1) -> Any:
    """`p = clip(x, -scale, scale)`: the l-infinity ball of radius `scale >= 0`."""
    _check_scale(scale)
    return projection_box(tree, lower=-jnp.asarray(scale), upper=jnp.asarray(scale))


def projection_l2_ball(tree: Any, scale: ArrayLike = 1) -> Any:
    """`p = x min(1, scale / ||x||_2)`: the Euclidean ball of radius `scale >= 0`, the
    norm that of all entries of the tree."""
    _check_scale(scale)
    norm = _norm2(tree)
    outside = norm > scale
    factor = jnp.where(outside, scale / jnp.where(outside, norm, 1), 1)
    return _scaled(factor, tree)


def projection_l2_sphere(tree: Any, scale: ArrayLike = 1) -> Any:
    """`p = scale x / ||x||_2`: the Euclidean sphere of radius `scale >= 0`.

    At `x = 0` every point of the sphere is nearest; the one returned has every entry
    `scale / sqrt(n)` for `n` entries in all (optax's is NaN there).
    """
    _check_scale(scale)
    norm = _norm2(tree)
    size = sum(jnp.size(leaf) for leaf in jax.tree.leaves(tree))
    zero = norm == 0
    factor = scale / jnp.where(zero, 1, norm)
    spread = jnp.where(zero, scale / jnp.sqrt(jnp.asarray(max(size, 1), norm.dtype)), 0)
    return jax.tree.map(lambda x: (factor * x + spread).astype(jnp.result_type(x)), tree)


def _norm2(tree: Any) -> jax.Array:
    # The sum of squares in the tree's own precision: optax's, and exact enough for a
    # radius; a zero norm is guarded by the callers, so its gradient stays finite.
    squares = sum(jnp.sum(jnp.square(jnp.abs(x))) for x in jax.tree.leaves(tree))
    squares = jnp.asarray(squares)
    safe = jnp.where(squares > 0, squares, 1)
    return jnp.where(squares > 0, jnp.sqrt(safe), 0)


def _simplex_threshold(values: jax.Array, scale: ArrayLike) -> jax.Array:
    """The `theta` with `sum(max(values - theta, 0)) = scale`, by sorting (Duchi et al. 2008,
    fig. 1; Condat 2016, algorithm 1).

    With `u` the values sorted in decreasing order and `c_k = u_1 + ... + u_k`, the support of
    the projection is the `K` largest entries, `K = #{k : u_k > (c_k - scale) / k}`, and
    `theta = (c_K - scale) / K`. O(n log n), differentiable almost everywhere: the gradient
    of `theta` is `1 / K` on the support, 0 elsewhere. `K` is at least 1 so that `scale = 0`
    gives `theta = max(values)`, the projection 0.
    """
    u = jnp.sort(values)[::-1]
    cumulative = jnp.cumsum(u)
    ranks = jnp.arange(1, values.size + 1, dtype=values.dtype)
    support = jnp.maximum(jnp.count_nonzero(u * ranks > cumulative - scale), 1)
    return (cumulative[support - 1] - scale) / support.astype(values.dtype)


def _flat(tree: Any) -> tuple[jax.Array, Any]:
    values, unravel = ravel_pytree(tree)
    if values.size == 0:
        raise ValueError("tree must have at least one entry to project onto a simplex or an "
                         "l1 ball or sphere, got a tree without entries")
    return values, unravel


def projection_simplex(tree: Any, scale: ArrayLike = 1) -> Any:
    """`p = max(x - theta, 0)` with `theta` such that `sum(p) = scale`: the simplex
    `{p >= 0, sum(p) = scale}` (the probability simplex by default), all entries of the tree
    one vector; `theta` by sorting (Duchi, Shalev-Shwartz, Singer and Chandra 2008, "Efficient
    projections onto the l1-ball for learning in high dimensions", fig. 1; Condat 2016, "Fast
    projection onto the simplex and the l1 ball", algorithm 1). `scale >= 0`.
    """
    _check_scale(scale)
    values, unravel = _flat(tree)
    theta = _simplex_threshold(values, scale)
    return _cast_like(unravel(jnp.maximum(values - theta, 0)), tree)


def projection_l1_sphere(tree: Any, scale: ArrayLike = 1) -> Any:
    """`p = sign(x) max(|x| - theta, 0)` with `theta` such that `||p||_1 = scale`: the l1
    sphere of radius `scale >= 0` (the simplex projection of `|x|`, signs restored; Duchi et
    al. 2008, sec. 4). An entry 0 counts as positive, so that `p` is on the sphere even when
    `||x||_1 < scale` leaves mass for zero entries (optax's drops it there).
    """
    _check_scale(scale)
    values, unravel = _flat(tree)
    theta = _simplex_threshold(jnp.abs(values), scale)
    signs = jnp.where(values < 0, -1, 1).astype(values.dtype)
    return _cast_like(unravel(signs * jnp.maximum(jnp.abs(values) - theta, 0)), tree)


def projection_l1_ball(tree: Any, scale: ArrayLike = 1) -> Any:
    """`p = sign(x) max(|x| - max(theta, 0), 0)`: the l1 ball of radius `scale >= 0`, `x`
    itself when `||x||_1 <= scale` (then `theta <= 0`), else its projection onto the sphere
    (Duchi et al. 2008, sec. 4): one formula, no branch.
    """
    _check_scale(scale)
    values, unravel = _flat(tree)
    theta = jnp.maximum(_simplex_threshold(jnp.abs(values), scale), 0)
    shrunk = jnp.sign(values) * jnp.maximum(jnp.abs(values) - theta, 0)
    return _cast_like(unravel(shrunk), tree)


def _check_line(x: Any, a: Any, b: Any = 0.0) -> None:
    _same_structure("x", x, "a", a)
    validation.finite("b", b)
    if _concrete(a) and all(not bool(np.any(np.asarray(leaf) != 0))
                            for leaf in jax.tree.leaves(a)):
        raise ValueError(f"a must have a nonzero entry (it is the normal of the set), got {a!r}")


def projection_vector(x: Any, a: Any) -> Any:
    """`p = (<x, a> / <a, a>) a`: the projection onto the line spanned by the tree `a`
    (nonzero, of the structure of `x`), inner products over all entries."""
    _check_line(x, a)
    factor = vdot(x, a) / vdot(a, a)
    return _cast_like(jax.tree.map(lambda leaf: factor * leaf, a), x)


def projection_hyperplane(x: Any, a: Any, b: ArrayLike) -> Any:
    """`p = x + ((b - <a, x>) / <a, a>) a`: the hyperplane `<a, p> = b`, `a` a nonzero tree of
    the structure of `x`, `b` a scalar."""
    _check_line(x, a, b)
    step = (b - vdot(a, x)) / vdot(a, a)
    return jax.tree.map(lambda xi, ai: (xi + step * ai).astype(jnp.result_type(xi)), x, a)


def projection_halfspace(x: Any, a: Any, b: ArrayLike) -> Any:
    """`p = x + (min(b - <a, x>, 0) / <a, a>) a`: the half-space `<a, p> <= b` (`x` itself
    inside), `a` a nonzero tree of the structure of `x`, `b` a scalar."""
    _check_line(x, a, b)
    step = jnp.minimum(b - vdot(a, x), 0) / vdot(a, a)
    return jax.tree.map(lambda xi, ai: (xi + step * ai).astype(jnp.result_type(xi)), x, a)


__all__ = [
    "projection_box",
    "projection_halfspace",
    "projection_hypercube",
    "projection_hyperplane",
    "projection_l1_ball",
    "projection_l1_sphere",
    "projection_l2_ball",
    "projection_l2_sphere",
    "projection_linf_ball",
    "projection_non_negative",
    "projection_simplex",
    "projection_vector",
]
