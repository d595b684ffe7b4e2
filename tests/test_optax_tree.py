"""optim.tree's optax.tree functions and optim.tree_utils' aliases against optax 0.2.8 on
nested pytrees (dicts, lists, tuples, NamedTuples, None leaves), and get/set/map_params on
real optimizer states of both libraries."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optim
from optim import tree


class Pair(NamedTuple):
    x: jax.Array
    y: object


def nested(seed=0, dtype=jnp.float32, complex_=False):
    r = np.random.default_rng(seed)

    def leaf(*shape):
        value = r.normal(size=shape) + (1j * r.normal(size=shape) if complex_ else 0)
        return jnp.asarray(value, dtype)

    return {"a": leaf(2, 3), "b": [leaf(3), (leaf(),)], "nt": Pair(leaf(2), None), "n": None}


def assert_trees(got, expected, rtol=1e-6):
    assert jax.tree.structure(got) == jax.tree.structure(expected)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(expected), strict=True):
        assert jnp.shape(a) == jnp.shape(b) and jnp.result_type(a) == jnp.result_type(b)
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=1e-7)


x, y, z = nested(0), nested(1), nested(2)
positive = jax.tree.map(lambda v: jnp.abs(v) + 0.5, nested(3))
# name -> (positional arguments, keywords), run through optim.tree.name and optax.tree.name
CALLS = {
    "add": ((x, y, z), {}), "sub": ((x, y), {}), "mul": ((x, y), {}), "div": ((x, positive), {}),
    "scale": ((2.5, x), {}), "add_scale": ((x, -0.5, y), {}), "vdot": ((x, y), {}),
    "sum": ((x,), {}), "max": ((x,), {}), "min": ((x,), {}), "size": ((x,), {}),
    "where": ((True, x, y), {}), "clip": ((x,), {"min_value": -0.3, "max_value": 0.4}),
    "conj": ((x,), {}), "real": ((x,), {}), "batch_shape": ((x, (2,)), {}),
    "allclose": ((x, x), {}), "full_like": ((x, 3.0), {"dtype": jnp.int32}),
    "ones_like": ((x,), {}), "zeros_like": ((x,), {"dtype": jnp.bfloat16}),
    "cast": ((x, jnp.bfloat16), {}), "cast_like": ((x, jax.tree.map(
        lambda v: v.astype(jnp.int32), y)), {}),
    "update_moment": ((x, positive, 0.9, 2), {}),
    "update_moment_per_elem_norm": ((x, positive, 0.8, 3), {}),
    "update_infinity_moment": ((x, positive, 0.9, 1e-3), {}),
    "bias_correction": ((positive, 0.9, jnp.asarray(3)), {}),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_against_optax(name):
    args, kwargs = CALLS[name]
    assert_trees(getattr(tree, name)(*args, **kwargs), getattr(optax.tree, name)(*args, **kwargs))


def test_complex_leaves_against_optax():
    c, d = nested(4, jnp.complex64, True), nested(5, jnp.complex64, True)
    for name, args in [("vdot", (c, d)), ("conj", (c,)), ("real", (c,)),
                       ("update_moment_per_elem_norm", (c, jax.tree.map(jnp.abs, d), 0.9, 2))]:
        assert_trees(getattr(tree, name)(*args), getattr(optax.tree, name)(*args), rtol=1e-5)
    for ord_ in (None, 1, "inf"):
        np.testing.assert_allclose(tree.norm(c, ord_), optax.tree.norm(c, ord_), rtol=1e-6)


@pytest.mark.parametrize("ord_", [None, 1, 2, jnp.inf, "inf", "infinity"])
def test_norm_against_optax_and_numpy(ord_):
    flat = np.concatenate([np.ravel(np.asarray(v, np.float64)) for v in jax.tree.leaves(x)])
    numpy_ord = {None: 2, "inf": np.inf, "infinity": np.inf}.get(ord_, ord_)
    for squared in (False, True):
        got = tree.norm(x, ord_, squared=squared)
        np.testing.assert_allclose(got, optax.tree.norm(x, ord_, squared=squared), rtol=1e-6)
        expected = np.linalg.norm(flat, numpy_ord)
        np.testing.assert_allclose(got, expected**2 if squared else expected, rtol=1e-6)


def test_reductions_on_empty_and_associative():
    for name in ("sum", "max", "min", "size", "vdot"):
        args = ({}, {}) if name == "vdot" else ({"e": jnp.zeros((0,))},)
        assert getattr(tree, name)(*args) == getattr(optax.tree, name)(*args)
    np.testing.assert_allclose(tree.sum(x, associative_reduction=True), optax.tree.sum(x),
                               rtol=1e-6)
    assert not tree.allclose(x, y) and tree.allclose(x, x)
    with pytest.raises(ValueError, match="ord must be None, 1, 2"):
        tree.norm(x, 3)
    with pytest.raises(ValueError, match="equal shapes"):
        tree.vdot({"a": jnp.ones(2)}, {"a": jnp.ones(3)})


def test_dtype_against_optax():
    mixed = {"a": jnp.ones(2, jnp.float32), "b": [jnp.ones(1, jnp.bfloat16)]}
    assert tree.dtype(x) == optax.tree.dtype(x) == jnp.float32
    for handler in ("promote", "highest", "lowest"):
        assert tree.dtype(mixed, handler) == optax.tree.dtype(mixed, handler)
    with pytest.raises(ValueError, match=r"\['b'\]\[0\] but got bfloat16"):
        tree.dtype(mixed)
    with pytest.raises(ValueError, match="mixed_dtype_handler must be"):
        tree.dtype(mixed, "largest")


def test_random_trees_against_optax(key):
    assert_trees(tree.unwrap_random_key_data(tree.split_key_like(key, x)),
                 optax.tree.unwrap_random_key_data(optax.tree.split_key_like(key, x)))
    for sampler in (jax.random.normal, jax.random.uniform):
        assert_trees(tree.random_like(key, x, sampler), optax.tree.random_like(key, x, sampler))
    assert_trees(tree.random_like(key, x, dtype=jnp.bfloat16),
                 optax.tree.random_like(key, x, dtype=jnp.bfloat16))
    keys = {"k": jax.random.key(1), "v": jnp.ones(2)}
    assert_trees(tree.unwrap_random_key_data(keys), optax.tree.unwrap_random_key_data(keys))


def test_tree_utils_are_the_same_functions():
    import optim.tree_utils as ours

    names = [n for n in dir(optax.tree_utils) if n.startswith("tree_")]
    assert names and all(getattr(ours, n) is getattr(tree, n[len("tree_"):] if n != "tree_map_params"
                                                     else "map_params") for n in names)
    assert ours.NamedTupleKey is tree.NamedTupleKey
    assert optim.tree_map_params is tree.map_params and optim.update_moment is tree.update_moment


def paths(found):
    return [("".join(str(e) for e in path), value) for path, value in found]


def injected_states():
    params = {"w": jnp.ones((2, 2)), "b": [jnp.zeros(2)]}
    ours = optim.chain(optim.inject_hyperparams(optim.adam)(learning_rate=0.1)).init(params)
    theirs = optax.chain(optax.inject_hyperparams(optax.adam)(learning_rate=0.1)).init(params)
    return params, ours, theirs


@pytest.mark.parametrize("key_name", ["learning_rate", "mu", "nu", "count", "ScaleByAdamState",
                                      "hyperparams", "b1", "missing"])
def test_get_all_with_path_on_optax_states_matches_optax(key_name):
    _, _, theirs = injected_states()
    got = paths(tree.get_all_with_path(theirs, key_name))
    expected = paths(optax.tree.get_all_with_path(theirs, key_name))
    assert [p for p, _ in got] == [p for p, _ in expected]
    for (_, a), (_, b) in zip(got, expected, strict=True):
        assert_trees(a, b)


def test_get_and_set_on_this_librarys_state():
    params, ours, _ = injected_states()
    np.testing.assert_allclose(tree.get(ours, "learning_rate"), 0.1)
    assert_trees(tree.get(ours, "mu"), jax.tree.map(jnp.zeros_like, params))
    assert tree.get(ours, "missing") is None and tree.get(ours, "missing", 3) == 3
    with pytest.raises(KeyError, match="Found multiple values for 'count'"):
        tree.get(ours, "count")
    inner_count = tree.get(ours, "count", filtering=lambda path, _: "mu" not in str(path) and any(
        "ScaleByAdam" in str(e) for e in path))
    assert int(inner_count) == 0
    changed = tree.set(ours, learning_rate=jnp.asarray(0.01))
    np.testing.assert_allclose(tree.get(changed, "learning_rate"), 0.01)
    assert jax.tree.structure(changed) == jax.tree.structure(ours)
    with pytest.raises(KeyError, match="'momentum'"):
        tree.set(ours, momentum=0.5)


def test_set_on_optax_state_matches_optax():
    _, _, theirs = injected_states()
    for kwargs in ({"learning_rate": jnp.asarray(0.5)},
                   {"mu": tree.ones_like(optax.tree.get(theirs, "mu"))}):
        assert_trees(tree.set(theirs, **kwargs), optax.tree.set(theirs, **kwargs))
    # Every match get_all_with_path finds is replaced (optax 0.2.8 leaves the inner count,
    # under the tuple of the chain inside the injected state, as it was).
    both_counts = tree.get_all_with_path(tree.set(theirs, count=jnp.asarray(7)), "count")
    assert len(both_counts) == 2 and all(int(v) == 7 for _, v in both_counts)
    only_outer = lambda path, _: len(path) == 2  # noqa: E731
    assert_trees(tree.set(theirs, only_outer, count=jnp.asarray(3)),
                 optax.tree.set(theirs, only_outer, count=jnp.asarray(3)))


def test_set_state_steps_under_jit():
    params, ours, _ = injected_states()
    tx = optim.chain(optim.inject_hyperparams(optim.adam)(learning_rate=0.1))
    state = tree.set(ours, learning_rate=jnp.asarray(0.0, jnp.float32))
    updates, _ = jax.jit(tx.update)(jax.tree.map(jnp.ones_like, params), state, params)
    assert all(np.all(np.asarray(u) == 0) for u in jax.tree.leaves(updates))


def test_get_and_set_on_nested_dicts_and_named_tuples():
    state = {"outer": Pair(x=jnp.ones(2), y={"lr": jnp.asarray(0.1)}), "lr": jnp.asarray(0.2)}
    for name in ("lr", "x", "Pair"):
        got = paths(tree.get_all_with_path(state, name))
        expected = paths(optax.tree.get_all_with_path(state, name))
        assert [p for p, _ in got] == [p for p, _ in expected] and got
        for (_, a), (_, b) in zip(got, expected, strict=True):
            assert_trees(a, b)
    assert_trees(tree.set(state, x=jnp.zeros(2)), optax.tree.set(state, x=jnp.zeros(2)))
    assert_trees(tree.set(state, Pair=jnp.zeros(3)), optax.tree.set(state, Pair=jnp.zeros(3)))


def test_map_params_on_both_libraries():
    params = {"w": jnp.ones((2, 2)), "b": [jnp.zeros(2)]}
    double = lambda v: 2 * v + 1  # noqa: E731
    for make in (optax.adam, optim.adam):
        opt = make(0.1)
        state = opt.init(params)
        mapped = tree.map_params(opt, double, state)
        assert_trees(mapped, optax.tree.map_params(opt, double, state))
        assert_trees(tree.get(mapped, "mu"), jax.tree.map(double, tree.get(state, "mu")))
        assert int(tree.get(mapped, "count")) == 0  # not a params tree: unchanged
    by_init = tree.map_params(optim.adam(0.1).init, double, optim.adam(0.1).init(params),
                              transform_non_params=lambda v: v + 5)
    assert int(tree.get(by_init, "count")) == 5
