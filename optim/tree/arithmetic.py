"""optax.tree's arithmetic under its short names (`optim.tree.add`, `optim.tree.norm`, ...),
with optax's semantics: plain leaf-by-leaf arithmetic with NumPy's dtype promotion (the
library's own `tree_*` helpers in `optim.tree.maths` keep each leaf's dtype instead).

    add(x, y, *more), sub, mul, div     leaf by leaf
    scale(s, x) = s x,  add_scale(x, s, y) = x + s y
    vdot(x, y) = sum <x_i, y_i> (conjugating x),  sum, max, min, size
    norm(x, ord=2 | 1 | inf, squared=False)       the norm of all entries as one vector
    where(c, x, y), clip(x, min_value, max_value), conj, real, allclose, batch_shape
    update_moment_per_elem_norm, update_infinity_moment   moments of |g| (AdaMax, Kingma &
                                        Ba 2015, sec. 7) for complex gradients too

`None` leaves are empty subtrees: they stay `None` (in `add_scale` and the moment updates too).
"""

from __future__ import annotations

import builtins
import functools
import operator
from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike


def add(tree_x: Any, tree_y: Any, *other_trees: Any) -> Any:
    """The leaf-by-leaf sum of two or more trees of the same structure."""
    return jax.tree.map(lambda *leaves: functools.reduce(operator.add, leaves),
                        tree_x, tree_y, *other_trees)


def sub(tree_x: Any, tree_y: Any) -> Any:
    """`tree_x - tree_y`, leaf by leaf."""
    return jax.tree.map(operator.sub, tree_x, tree_y)


def mul(tree_x: Any, tree_y: Any) -> Any:
    """`tree_x * tree_y`, leaf by leaf."""
    return jax.tree.map(operator.mul, tree_x, tree_y)


def div(tree_x: Any, tree_y: Any) -> Any:
    """`tree_x / tree_y`, leaf by leaf."""
    return jax.tree.map(operator.truediv, tree_x, tree_y)


def scale(scalar: ArrayLike, tree: Any) -> Any:
    """`scalar * tree`, leaf by leaf."""
    return jax.tree.map(lambda x: scalar * x, tree)


def add_scale(tree_x: Any, scalar: ArrayLike, tree_y: Any) -> Any:
    """`tree_x + scalar * tree_y`; a `None` leaf of `tree_x` stays `None`."""
    scalar = jnp.asarray(scalar)
    return jax.tree.map(lambda x, y: None if x is None else x + scalar * y, tree_x, tree_y,
                        is_leaf=lambda x: x is None)


def _vdot(x: ArrayLike, y: ArrayLike) -> jax.Array:
    x, y = jnp.asarray(x), jnp.asarray(y)
    if x.shape != y.shape:
        raise ValueError(f"vdot needs leaves of equal shapes, got {x.shape} and {y.shape}")
    return jnp.vdot(x, y, precision=jax.lax.Precision.HIGHEST)


def vdot(tree_x: Any, tree_y: Any) -> jax.Array:
    """`sum_i <x_i, y_i>` over the leaves, `x` conjugated (0 for empty trees)."""
    return jax.tree.reduce(operator.add, jax.tree.map(_vdot, tree_x, tree_y), initializer=0)


def sum(tree: Any, associative_reduction: bool = False) -> jax.Array:  # noqa: A001 - optax's
    """The sum of all entries; `associative_reduction=True` adds the leaves' sums as a
    balanced tree (less rounding for many leaves)."""
    sums = jax.tree.map(jnp.sum, tree)
    if associative_reduction:
        return jax.tree.reduce_associative(operator.add, sums, identity=0)
    return jax.tree.reduce(operator.add, sums, initializer=0)


def _reduce(tree: Any, leaf_fn, combine, start: float) -> jax.Array:
    # Empty leaves have no max or min: they are left out, as optax does.
    parts = [leaf_fn(x) for x in jax.tree.leaves(tree) if jnp.size(x)]
    return functools.reduce(combine, parts, start)


def max(tree: Any) -> jax.Array:  # noqa: A001 - optax's name
    """The largest entry of the tree (`-inf` for a tree without entries)."""
    return _reduce(tree, jnp.max, jnp.maximum, -float("inf"))


def min(tree: Any) -> jax.Array:  # noqa: A001 - optax's name
    """The smallest entry of the tree (`inf` for a tree without entries)."""
    return _reduce(tree, jnp.min, jnp.minimum, float("inf"))


def size(tree: Any) -> int:
    """The number of entries in all the leaves."""
    return builtins.sum(jnp.size(leaf) for leaf in jax.tree.leaves(tree))


def conj(tree: Any) -> Any:
    """The complex conjugate of each leaf."""
    return jax.tree.map(jnp.conj, tree)


def real(tree: Any) -> Any:
    """The real part of each leaf."""
    return jax.tree.map(jnp.real, tree)


def _abs_square(x: jax.Array) -> jax.Array:
    return jnp.square(jnp.real(x)) + jnp.square(jnp.imag(x))


def norm(tree: Any, ord: int | str | float | None = None,  # noqa: A002 - NumPy's name
         squared: bool = False) -> jax.Array:
    """The norm of all entries as one vector: `ord=None` or 2 the Euclidean norm, 1 the sum
    of absolute values, `inf` (or "inf", "infinity") the largest absolute value; `squared`
    gives its square. Another `ord` raises a ValueError naming it."""
    if ord is None or ord == 2:
        total = sum(jax.tree.map(_abs_square, tree))
        return jnp.asarray(total if squared else jnp.sqrt(total))
    if ord == 1:
        value = sum(jax.tree.map(jnp.abs, tree))
    elif ord in (jnp.inf, "inf", "infinity"):
        value = max(jax.tree.map(jnp.abs, tree))
    else:
        raise ValueError(f"ord must be None, 1, 2, inf, 'inf' or 'infinity', got {ord!r}")
    return jnp.asarray(_abs_square(jnp.asarray(value)) if squared else value)


def where(condition: ArrayLike, tree_x: Any, tree_y: Any) -> Any:
    """`jnp.where(condition, x, y)` leaf by leaf (a scalar condition picks whole trees)."""
    return jax.tree.map(lambda x, y: jnp.where(condition, x, y), tree_x, tree_y)


def clip(tree: Any, min_value: ArrayLike | None = None,
         max_value: ArrayLike | None = None) -> Any:
    """Every entry clipped to `[min_value, max_value]` (either end may be None)."""
    return jax.tree.map(lambda x: jnp.clip(x, min_value, max_value), tree)


def allclose(a: Any, b: Any, rtol: ArrayLike = 1e-5, atol: ArrayLike = 1e-8,
             equal_nan: bool = False) -> Any:
    """`jnp.allclose` on every pair of leaves, and'ed: a scalar boolean (True when empty)."""
    close = jax.tree.map(
        lambda x, y: jnp.allclose(x, y, rtol=rtol, atol=atol, equal_nan=equal_nan), a, b)
    return functools.reduce(operator.and_, jax.tree.leaves(close), True)


def batch_shape(tree: Any, shape: tuple[int, ...] = ()) -> Any:
    """Each leaf broadcast to `shape + leaf.shape` (a batch of copies)."""
    return jax.tree.map(lambda x: jnp.broadcast_to(x, (*shape, *jnp.shape(x))), tree)


def _keep_none(fn):
    return lambda g, m: None if g is None else fn(g, m)


def update_moment_per_elem_norm(updates: Any, moments: Any, decay: ArrayLike,
                                order: int) -> Any:
    """`decay m + (1 - decay) |g|**order` per entry, `|g|**order` read as `g**order` for real
    gradients (optax's convention: an odd order keeps the sign) and `(|g|^2)**(order / 2)`
    for complex ones."""
    def power(g):
        if jnp.isrealobj(g):
            return g**order
        half = order / 2
        return _abs_square(g) ** (int(half) if float(half).is_integer() else half)

    return jax.tree.map(_keep_none(lambda g, m: (1 - decay) * power(g) + decay * m),
                        updates, moments, is_leaf=lambda x: x is None)


def update_infinity_moment(updates: Any, moments: Any, decay: ArrayLike,
                           eps: ArrayLike) -> Any:
    """AdaMax's infinity-norm moment (Kingma & Ba 2015, sec. 7.1):
    `max(|g| + eps, decay m)` per entry."""
    return jax.tree.map(_keep_none(lambda g, m: jnp.maximum(jnp.abs(g) + eps, decay * m)),
                        updates, moments, is_leaf=lambda x: x is None)
