"""Shared pieces of the optimizer tests: a nested example pytree, gradient sequences, a jitted
scan that applies a transform to a whole sequence, and flattening for the NumPy references."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np


def example_tree(make: Callable[[tuple[int, ...]], object]) -> dict:
    """A nested pytree with dicts, lists and tuples and a matrix, vectors and a scalar."""
    return {"w": make((3, 2)), "b": make((4,)), "deep": [make(()), (make((2,)), make((2, 2)))]}


def leaf_shapes() -> list[tuple[int, ...]]:
    return [leaf.shape for leaf in jax.tree.leaves(example_tree(np.zeros))]


def params_like(dtype=jnp.float32, seed: int = 0, low: float = -1.0, high: float = 1.0) -> dict:
    rng = np.random.default_rng(seed)
    return example_tree(lambda shape: jnp.asarray(rng.uniform(low, high, shape), dtype))


def sequence(steps: int, seed: int, *, dtype=jnp.float32, scale: float = 1.0, zeros: float = 0.0):
    """A pytree of `steps` random gradients per leaf (leading axis), as float64 NumPy and as
    `dtype` arrays; a fraction `zeros` of the entries is exactly 0."""
    rng = np.random.default_rng(seed)

    def make(shape):
        values = scale * rng.standard_normal((steps, *shape))
        return np.where(rng.uniform(size=values.shape) < zeros, 0.0, values)

    exact = example_tree(make)
    # The library sees the values rounded to `dtype`; the reference sees the same rounded values.
    cast = jax.tree.map(lambda x: jnp.asarray(x, dtype), exact)
    return jax.tree.map(lambda x: np.asarray(x, np.float64), cast), cast


def params_sequence(steps, seed, dtype=jnp.float32, tree=example_tree):
    """A sequence of params (open loop): random values of order one, as float64 NumPy and as
    `dtype` arrays."""
    rng = np.random.default_rng(seed)
    exact = tree(lambda shape: rng.uniform(-1.5, 1.5, (steps, *shape)))
    cast = jax.tree.map(lambda x: jnp.asarray(x, dtype), exact)
    return jax.tree.map(lambda x: np.asarray(x, np.float64), cast), cast


def leaves_of(tree_sequence):
    """Each leaf's sequence as float64 NumPy, in leaf order (the layer-wise references' input)."""
    return [np.asarray(leaf, np.float64) for leaf in jax.tree.leaves(tree_sequence)]


def adafactor_tree(make):
    """A tree whose leaves Adafactor factors in different ways: matrices, a 3-D leaf, vectors and
    a scalar."""
    return {"m": make((4, 6)), "cube": make((3, 4, 5)), "v": [make((5,)), make(())], "t": make((3, 2))}


def flat(tree_sequence) -> np.ndarray:
    """(T, n) float64: each step's pytree flattened in `jax.tree.leaves` order."""
    leaves = jax.tree.leaves(tree_sequence)
    steps = np.shape(leaves[0])[0]
    return np.concatenate(
        [np.asarray(leaf, np.float64).reshape(steps, -1) for leaf in leaves], axis=1
    )


def run_sequence(tx, grads, params=None):
    """Apply `tx` to a whole gradient sequence in one jitted `lax.scan`; returns (updates, state).

    The state is built from the first params (or the first gradient's shapes and dtypes).
    """

    @jax.jit
    def go(grads, params):
        first = jax.tree.map(lambda x: x[0], grads if params is None else params)
        state = tx.init(first)

        def step(state, inputs):
            g, p = inputs
            updates, state = tx.update(g, state, p)
            return state, updates

        state, updates = jax.lax.scan(step, state, (grads, params))
        return updates, state

    return go(grads, params)


def minimize(tx, loss, params, steps: int):
    """`steps` jitted descent steps of `tx` on `loss`, in one `lax.fori_loop`; final params."""
    from optim import apply_updates

    @jax.jit
    def go(params):
        def body(_, carry):
            params, state = carry
            updates, state = tx.update(jax.grad(loss)(params), state, params)
            return apply_updates(params, updates), state

        return jax.lax.fori_loop(0, steps, body, (params, tx.init(params)))[0]

    return go(params)


def run_sequences(transforms: dict, grads, params=None) -> dict:
    """`run_sequence` for a dict of transforms at once, in a single compiled program (compiling
    one program is several times faster than compiling each transform on its own).
    Returns {name: updates}."""

    @jax.jit
    def go(grads, params):
        first = jax.tree.map(lambda x: x[0], grads if params is None else params)
        out = {}
        for name, tx in transforms.items():

            def step(state, inputs, tx=tx):
                g, p = inputs
                updates, state = tx.update(g, state, p)
                return state, updates

            out[name] = jax.lax.scan(step, tx.init(first), (grads, params))[1]
        return out

    return go(grads, params)
