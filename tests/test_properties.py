"""Property tests over random pytrees (hypothesis): for every optimizer at its defaults, on
nested dicts, lists and tuples with empty subtrees, scalars and zero-size leaves in float32,
bfloat16 and float16, the updates keep the params' structure, shapes and dtypes, jit computes
what eager computes, and finite gradients give finite updates and states."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import optim

ALIASES = {
    "sgd": optim.sgd, "momentum": lambda: optim.sgd(momentum=0.9), "adagrad": optim.adagrad,
    "rmsprop": optim.rmsprop, "adadelta": optim.adadelta, "adam": optim.adam,
    "adamw": optim.adamw, "nadam": optim.nadam, "amsgrad": optim.amsgrad,
    "adamax": optim.adamax, "radam": optim.radam, "adabelief": optim.adabelief,
    "lion": optim.lion, "lamb": optim.lamb, "lars": optim.lars, "adafactor": optim.adafactor,
    "muon": optim.muon, "rprop": optim.rprop, "adaptive_gains": optim.adaptive_gains,
    "noisy_sgd": optim.noisy_sgd, "schedule_free_sgd": optim.schedule_free_sgd,
    "schedule_free_adamw": optim.schedule_free_adamw,
}
QUICK = {"adam"}  # the quick subset keeps this one; the others are slow

DTYPES = [jnp.float32, jnp.bfloat16, jnp.float16]


@dataclasses.dataclass(frozen=True)
class Leaf:
    """A leaf to make (not a pytree node, so tuples of them are containers)."""

    shape: tuple
    dtype: object


SHAPES = st.lists(st.integers(0, 4), min_size=0, max_size=3).map(tuple)
LEAVES = st.builds(Leaf, SHAPES, st.sampled_from(DTYPES))


def containers(children):
    keys = st.text("abcdefgh", min_size=1, max_size=3)
    return (st.dictionaries(keys, children, max_size=3) | st.lists(children, max_size=3)
            | st.lists(children, max_size=3).map(tuple))


TREES = st.recursive(LEAVES, containers, max_leaves=6)


def materialize(spec, seed):
    """Params and two gradients for a tree of (shape, dtype) leaves."""
    leaves, treedef = jax.tree.flatten(spec)
    rng = np.random.default_rng(seed)

    def make(scale):
        return treedef.unflatten([
            jnp.asarray(scale * rng.standard_normal(leaf.shape), leaf.dtype) for leaf in leaves
        ])

    return make(1.0), make(0.1), make(0.1)


def tolerance(params):
    low = any(jnp.result_type(x) in (jnp.bfloat16, jnp.float16) for x in jax.tree.leaves(params))
    return (3e-2, 3e-2) if low else (1e-5, 1e-6)


def check(name, spec, seed):
    params, g1, g2 = materialize(spec, seed)
    tx = ALIASES[name]()
    state = tx.init(params)
    jitted = jax.jit(tx.update)
    eager_state, jit_state = state, state
    rtol, atol = tolerance(params)
    for grads in (g1, g2):
        eager, eager_state = tx.update(grads, eager_state, params)
        compiled, jit_state = jitted(grads, jit_state, params)
        assert jax.tree.structure(compiled) == jax.tree.structure(params)
        for u, e, p in zip(jax.tree.leaves(compiled), jax.tree.leaves(eager),
                           jax.tree.leaves(params), strict=True):
            assert u.shape == p.shape and u.dtype == p.dtype, (name, u.shape, u.dtype, p.dtype)
            assert bool(jnp.all(jnp.isfinite(u))), name
            np.testing.assert_allclose(np.asarray(u, np.float32), np.asarray(e, np.float32),
                                       rtol=rtol, atol=atol)
        for leaf in jax.tree.leaves(jit_state):
            if jnp.issubdtype(jnp.result_type(leaf), jnp.inexact):
                assert bool(jnp.all(jnp.isfinite(leaf))), (name, "state")


@pytest.mark.parametrize(
    "name", [n if n in QUICK else pytest.param(n, marks=pytest.mark.slow) for n in ALIASES]
)
@settings(max_examples=12, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(spec=TREES, seed=st.integers(0, 2**16))
def test_random_pytrees_keep_their_form_and_stay_finite(name, spec, seed):
    check(name, spec, seed)
