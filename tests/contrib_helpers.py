"""Shared by the optim.contrib tests: a small nested problem, 20 steps of it as one jitted
`lax.scan`, the same problem flat in NumPy float64 for the paper's rules, and comparisons."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.contrib
import pytest

import optim
from optim import contrib

STEPS = 20


def tree(make):
    return {"w": make((3, 2)), "rest": [make((2,)), (make(()),)]}


_rng = np.random.default_rng(11)
START = tree(lambda shape: _rng.uniform(-1.0, 1.0, shape))
TARGET = tree(lambda shape: _rng.uniform(-2.0, 2.0, shape))
CURVATURE = tree(lambda shape: _rng.uniform(0.5, 3.0, shape))
NOISE = tree(lambda shape: 0.3 * _rng.normal(size=(STEPS, *shape)))


def flat(t) -> np.ndarray:
    """The entries of a tree's leaves, side by side, in float64."""
    return np.concatenate([np.asarray(x, np.float64).reshape(-1) for x in jax.tree.leaves(t)])


def stacked(t) -> np.ndarray:
    """A tree of per-step values (leading axis STEPS) as a [STEPS, n] array."""
    return np.concatenate(
        [np.asarray(x, np.float64).reshape(STEPS, -1) for x in jax.tree.leaves(t)], axis=1)


def gradient(p, tgt, c, n):
    return (c * (p - tgt) + n).astype(p.dtype)


def run(tx, dtype=jnp.float32, apply=None):
    """20 steps of `tx` on the noisy quadratic, one jitted scan: (params per step, updates per
    step, final state). `apply` is the apply_updates of the library under test."""
    cast = lambda t: jax.tree.map(lambda x: jnp.asarray(x, dtype), t)  # noqa: E731
    target, curvature = cast(TARGET), cast(CURVATURE)
    apply = apply or (lambda p, u: jax.tree.map(lambda a, b: (a + b).astype(a.dtype), p, u))

    def body(carry, noise):
        params, state = carry
        grads = jax.tree.map(gradient, params, target, curvature, noise)
        updates, state = tx.update(grads, state, params)
        params = apply(params, updates)
        return (params, state), (params, updates)

    @jax.jit
    def program(params):
        (_, state), (path, updates) = jax.lax.scan(body, (params, tx.init(params)), cast(NOISE))
        return path, updates, state

    return program(cast(START))


def numpy_problem():
    """The same problem flat, in float64: (x0, target, curvature, noise[STEPS, n])."""
    return flat(START), flat(TARGET), flat(CURVATURE), stacked(NOISE)


def numpy_run(step, state):
    """Run a NumPy rule `step(g, x, state) -> (update, state)` on the flat problem; the
    params after each step, [STEPS, n]."""
    x, target, curvature, noise = numpy_problem()
    path = []
    for t in range(STEPS):
        g = curvature * (x - target) + noise[t]
        u, state = step(g, x, state)
        x = x + u
        path.append(x)
    return np.stack(path)


def find(state, name):
    """The NamedTuple of type `name` inside a nested state (by name: optax's and ours are
    different classes)."""
    if type(state).__name__ == name:
        return state
    if isinstance(state, (tuple, list)):
        for child in state:
            found = find(child, name)
            if found is not None:
                return found
    return None


def assert_close(a, b, rtol, atol=0.0):
    leaves_a, leaves_b = jax.tree.leaves(a), jax.tree.leaves(b)
    assert len(leaves_a) == len(leaves_b)
    for x, y in zip(leaves_a, leaves_b, strict=True):
        assert jnp.shape(x) == jnp.shape(y)
        np.testing.assert_allclose(np.asarray(x, np.float64), np.asarray(y, np.float64),
                                   rtol=rtol, atol=atol)


def assert_same_run(ours, theirs, state_name, rtol, atol=0.0):
    """Same params at every step, same updates, and the same final state field by field."""
    path, updates, state = ours
    their_path, their_updates, their_state = theirs
    assert_close(path, their_path, rtol, atol)
    assert_close(updates, their_updates, rtol, atol)
    mine, reference = find(state, state_name), find(their_state, state_name)
    assert mine is not None and reference is not None, state_name
    assert mine._fields == reference._fields
    for field in mine._fields:
        assert_close(getattr(mine, field), getattr(reference, field), rtol, atol)


# Variants of an optimizer already run in float64 are compared in float32 only (compile time).
VARIANTS = {"adopt_nesterov_unclipped", "ademamix_scheduled", "prodigy_safeguard",
            "dog_learning_rate", "dog_distance", "cocob_scaled"}


def optax_comparisons(cases, tolerance_32, tolerance_64):
    """The two tests of a module's `cases` {name: (make(module), state name)} against
    optax.contrib: each case in float32, and (slow) the non-variant ones in float64."""
    @pytest.mark.parametrize("name", sorted(cases))
    def test_same_as_optax_float32(name):
        make, state_name = cases[name]
        ours = run(make(contrib), jnp.float32, optim.apply_updates)
        theirs = run(make(optax.contrib), jnp.float32, optax.apply_updates)
        rtol = tolerance_32.get(name, 1e-6)
        assert_same_run(ours, theirs, state_name, rtol, atol=rtol / 100)

    @pytest.mark.slow
    def test_same_as_optax_float64(x64):
        for name, (make, state_name) in cases.items():
            if name in VARIANTS:
                continue
            ours = run(make(contrib), jnp.float64, optim.apply_updates)
            theirs = run(make(optax.contrib), jnp.float64, optax.apply_updates)
            assert jax.tree.leaves(ours[0])[0].dtype == jnp.float64
            rtol = tolerance_64.get(name, 1e-11)
            assert_same_run(ours, theirs, state_name, rtol, atol=rtol / 100)

    return test_same_as_optax_float32, test_same_as_optax_float64
