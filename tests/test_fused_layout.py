"""The flat layout of `optim.flatten_params` and `optim.fused`: one buffer per dtype, large and sharded
leaves in buffers of their own, flat gradients from `unflatten`, layout mismatches named, and
`fused_step`'s donated buffers reused (one copy alive)."""

import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from fused_helpers import (
    DTYPES,
    assert_bitwise,
    make_grads,
    make_tree,
    moments_as_trees,
    run,
)

import optim
from optim import FlatTree, fused, fused_step
from optim import flatten_params as flatten


def test_flatten_round_trip_and_layout(key):
    params = make_tree(key, DTYPES["mixed"])
    flat = flatten(params)
    assert list(flat.buffers) == ["float32", "bfloat16"]
    assert flat.buffers["float32"].shape == (6 * 5 + 3 * 2 * 2 + 7 + 1,)
    assert flat.buffers["bfloat16"].shape == (5,)
    assert_bitwise(params, flat.unflatten(), "round trip")
    # A FlatTree is a pytree of its buffers: it jits, and its layout is static.
    doubled = jax.jit(lambda f: jax.tree.map(lambda b: 2 * b, f))(flat)
    assert isinstance(doubled, FlatTree) and doubled.layout == flat.layout
    assert_bitwise(jax.tree.map(lambda x: 2 * x, params), doubled.unflatten(), "doubled")
    assert flatten(flat) is flat
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_leaves_with_path(flat)]
    assert paths == ["['float32']", "['bfloat16']"]


def test_large_leaves_keep_their_own_buffer(key):
    """With tree params, leaves of `concat_below` entries or more are not gathered each step."""
    k_params, k_grads = jax.random.split(key)
    params = make_tree(k_params, DTYPES["mixed"])
    grads_seq = make_grads(k_grads, DTYPES["mixed"], steps=5)
    tx = fused(optim.adam(1e-2), concat_below=12)
    mu = tx.init(params)[0].mu
    assert list(mu.buffers) == [
        "float32['blocks'][0]",
        "float32",
        "bfloat16",
        "float32['dense']['w']",
    ]
    assert mu.buffers["float32['dense']['w']"].shape == (6, 5)
    assert mu.buffers["float32"].shape == (7 + 1,)
    ref, ref_state, _ = run(optim.adam(1e-2), params, grads_seq)
    out, state, _ = run(tx, params, grads_seq)
    assert_bitwise(ref_state, moments_as_trees(state), "state")
    assert_bitwise(ref, out, "concat_below")


def test_flat_grads_from_unflatten_are_flat(key):
    """A loss of `flat.unflatten()` differentiates to a FlatTree with the same layout."""
    params = make_tree(key, DTYPES["float32"])
    flat = flatten(params)

    def loss(tree):
        return sum(jnp.sum(jnp.sin(x) * x) for x in jax.tree.leaves(tree))

    flat_grads = jax.grad(lambda f: loss(f.unflatten()))(flat)
    assert isinstance(flat_grads, FlatTree) and flat_grads.layout == flat.layout
    assert_bitwise(jax.grad(loss)(params), flat_grads.unflatten(), "grads")


def test_layout_mismatch_is_named(key):
    params = make_tree(key, DTYPES["float32"])
    tx = fused(optim.adam(1e-3))
    state = tx.init(params)
    with pytest.raises(ValueError, match="does not match the flat layout"):
        tx.update({"other": params["dense"]}, state)
    wrong = jax.tree.map(lambda x: x.astype(jnp.bfloat16), params)
    with pytest.raises(ValueError, match="bfloat16"):
        tx.update(wrong, state)


def test_fused_step_donates_and_keeps_one_copy(key):
    """The donated params and state are reused for the results: no second copy stays alive."""
    params = flatten(make_tree(key, DTYPES["mixed"]))
    grads = flatten(make_tree(jax.random.split(key)[0], DTYPES["mixed"]))
    tx = fused(optim.adam(1e-2))
    state = tx.init(params)
    step = fused_step(tx)
    compiled = step.lower(params, state, grads).compile()
    memory = compiled.memory_analysis()
    nbytes = lambda t: sum(x.nbytes for x in jax.tree.leaves(t))
    assert memory.alias_size_in_bytes == nbytes(params) + nbytes(state)
    expected, expected_state, _ = run(tx, params, [grads])
    new_params, new_state = step(params, state, grads)
    assert all(x.is_deleted() for x in jax.tree.leaves((params, state)))
    assert_bitwise(expected.unflatten(), new_params.unflatten(), "fused_step")
    assert_bitwise(expected_state, new_state, "fused_step state")


@pytest.mark.slow
def test_fused_under_a_one_device_mesh(key):
    mesh = jax.sharding.Mesh(np.array(jax.devices()[:1]), ("data",))
    replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    params = jax.device_put(make_tree(key, DTYPES["mixed"]), replicated)
    grads_seq = [jax.device_put(g, replicated) for g in make_grads(key, DTYPES["mixed"], steps=3)]
    ref, _, _ = run(optim.adamw(1e-2), params, grads_seq)
    out, _, _ = run(fused(optim.adamw(1e-2)), flatten(params), [flatten(g) for g in grads_seq])
    assert_bitwise(ref, out.unflatten(), "one-device mesh")


_SHARDED_SCRIPT = textwrap.dedent(
    """
    import jax, jax.numpy as jnp, numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
    import optim
    from optim import flatten_params as flatten
    from optim import fused

    assert len(jax.devices()) == 2
    mesh = Mesh(np.array(jax.devices()), ("x",))
    keys = iter(jax.random.split(jax.random.key(0), 40))

    def tree():
        put = lambda x, spec: jax.device_put(x, NamedSharding(mesh, spec))
        return {
            "w": put(jax.random.normal(next(keys), (8, 6)), P("x")),
            "b": put(jax.random.normal(next(keys), (6,)), P()),
            "c": put(jax.random.normal(next(keys), (3, 4)).astype(jnp.bfloat16), P()),
        }

    params, grads_seq = tree(), [tree() for _ in range(5)]
    flat = flatten(params)
    assert list(flat.buffers) == ["float32", "bfloat16", "float32['w']"], list(flat.buffers)
    assert flat.buffers["float32['w']"].sharding.spec == P("x")

    def run(tx, params):
        state = tx.init(params)
        step = jax.jit(lambda p, s, g: (lambda u, s: (optim.apply_updates(p, u), s))(
            *tx.update(g, s, p)))
        for g in grads_seq:
            params, state = step(params, state, g)
        return params

    ref = run(optim.adamw(1e-2), params)
    out = run(fused(optim.adamw(1e-2)), params)
    for name in ref:
        assert jnp.array_equal(ref[name], out[name]), name
    assert out["w"].sharding.spec == P("x"), out["w"].sharding
    print("ok")
    """
)


@pytest.mark.slow
def test_sharded_leaves_keep_their_buffer_and_sharding():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    result = subprocess.run(
        [sys.executable, "-c", _SHARDED_SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")
