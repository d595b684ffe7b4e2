"""Optimizer states follow their params' sharding: eager `init` keeps each leaf's, and
`optim.state_shardings` gives `jit` the same placement as `out_shardings`.

The 8-device checks run in a subprocess (tests/sharding_states_check.py, which prints a JSON
report); the rules that one device can show run here: a 1-device mesh still tells a param's
`P("data")` from the replicated `P()` of the other leaves."""

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh, NamedSharding, SingleDeviceSharding
from jax.sharding import PartitionSpec as P
from sharding_states_check import CASES, STEP_SKIPPED

import optim
from optim._core.precision import moments_like

CHECK = Path(__file__).resolve().parent / "sharding_states_check.py"


@pytest.mark.slow
def test_states_follow_sharded_params_on_eight_devices():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8")
    cache = jax.config.jax_compilation_cache_dir  # conftest's, outside CI: reruns take ~10 s
    if cache:
        env.update(JAX_COMPILATION_CACHE_DIR=cache, JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
                   JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")
    done = subprocess.run([sys.executable, str(CHECK)], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["failures"] == [], "\n".join(report["failures"])
    cases = {f"{mesh} {name}" for mesh in ("auto", "explicit") for name in CASES}
    assert set(report["matched"]) == cases
    # Every state but noisy_sgd's (a count and a key) has leaves shaped like the params.
    empty = sorted(case for case, n in report["matched"].items() if n == 0)
    assert empty == ["auto noisy_sgd", "explicit noisy_sgd"], empty
    assert report["step_skipped"] == {f"{m} {n}": why for (m, n), why in STEP_SKIPPED.items()}


@pytest.fixture
def mesh():
    return Mesh(np.array(jax.devices()[:1]), ("data",))


def on(mesh, tree, specs):
    return {k: jax.device_put(v, NamedSharding(mesh, specs[k])) for k, v in tree.items()}


def params_on(mesh):
    tree = {"w": jnp.arange(12.0).reshape(4, 3), "b": jnp.ones(3), "t": jnp.asarray(2.0)}
    return on(mesh, tree, {"w": P("data"), "b": P("data"), "t": P()})


def specs(tree):
    return jax.tree.map(lambda s: tuple(s.spec), tree)


def test_subtrees_shaped_like_the_params_get_their_shardings(mesh):
    params = params_on(mesh)
    state = optim.state_shardings(optim.adam(1e-3), params)
    mu = {"w": ("data",), "b": ("data",), "t": ()}
    assert specs(state) == (optim.ScaleByAdamState((), mu, mu), optim.EmptyState())
    # A count is a scalar like params["t"], but not in a subtree shaped like the params.
    assert specs(optim.state_shardings(optim.sgd(0.1, 0.9), {"t": params["t"]}))[0].count == ()


@pytest.mark.parametrize("name", ["masked", "partition", "adafactor", "lbfgs", "fused"])
def test_masks_factors_and_flat_states(mesh, name):
    """Masked-out leaves are holes in a subtree that still matches; adafactor's vectors and
    L-BFGS's flat memories are replicated; a fused state matches its FlatTree params."""
    params = params_on(mesh)
    tx = {
        "masked": optim.masked(optim.sgd(0.1, 0.9), {"w": True, "b": False, "t": True}),
        "partition": optim.partition({"a": optim.sgd(0.1, 0.9), "z": optim.set_to_zero()},
                                     {"w": "a", "b": "z", "t": "a"}),
        "adafactor": optim.adafactor(1e-2, min_dim_size_to_factor=3),
        "lbfgs": optim.lbfgs(),
        "fused": optim.fused(optim.adam(1e-3), concat_below=4),
    }[name]
    if name == "fused":  # w, of 12 entries, keeps a buffer of its own
        params = optim.flatten_params(params, concat_below=4)
    shardings = optim.state_shardings(tx, params)
    abstract = jax.eval_shape(tx.init, params)
    assert jax.tree.structure(shardings) == jax.tree.structure(abstract)
    found = {jax.tree_util.keystr(path): tuple(s.spec)
             for path, s in jax.tree_util.tree_leaves_with_path(shardings)}
    expected = {
        "masked": {".inner_state[0].trace['t']": (), ".inner_state[0].trace['w']": ("data",)},
        # w is factored: its vectors and its empty full moment are replicated, b is not.
        "adafactor": {"[0].v_row['w']": (), "[0].v_col['w']": (), "[0].v['w']": (),
                      "[0].v['b']": ("data",)},
        "lbfgs": {"[0].diff_params": (), "[0].prev_params": ()},
        "fused": {"[0].mu[\"float32['w']\"]": ("data",), "[0].count": ()},
    }.get(name, {".inner_states['a'][0].trace['w']": ("data",)})
    if name == "fused":  # the small leaves' buffer: whatever sharding concatenate gave it
        expected["[0].mu['float32']"] = tuple(params.buffers["float32"].sharding.spec)
    assert {path: found[path] for path in expected} == expected
    jitted = jax.jit(tx.init, out_shardings=shardings)(params)
    for x, y in zip(jax.tree.leaves(tx.init(params)), jax.tree.leaves(jitted), strict=True):
        assert x.dtype == y.dtype and np.array_equal(x, y)


def test_params_on_one_device():
    """Uncommitted arrays (and a NumPy leaf among them) give their device for every leaf."""
    params = {"w": jnp.ones((2, 3)), "n": np.zeros(3, np.float32)}
    tx = optim.chain(optim.clip_by_global_norm(1.0), optim.adam(1e-3))
    shardings = optim.state_shardings(tx, params)
    device = SingleDeviceSharding(jax.devices()[0])
    assert set(jax.tree.leaves(shardings)) == {device}
    jitted = jax.jit(tx.init, out_shardings=shardings)(params)
    for x, y in zip(jax.tree.leaves(tx.init(params)), jax.tree.leaves(jitted), strict=True):
        assert x.dtype == y.dtype and np.array_equal(x, y)


def test_shape_dtype_structs_with_shardings(mesh):
    params = params_on(mesh)
    abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding),
                            params)
    tx = optim.lookahead(optim.adam(1e-3))
    assert optim.state_shardings(tx, abstract) == optim.state_shardings(tx, params)


def test_bad_params_and_optimizers_are_named(mesh):
    bare = {"w": jax.ShapeDtypeStruct((3,), jnp.float32)}
    with pytest.raises(ValueError, match=r"ShapeDtypeStruct without one"):
        optim.state_shardings(optim.adam(1e-3), bare)
    with pytest.raises(ValueError, match="params with no leaves"):
        optim.state_shardings(optim.adam(1e-3), {})
    with pytest.raises(TypeError, match=r"state_shardings' optimizer must be"):
        optim.state_shardings(optim.adam, params_on(mesh))
    with pytest.raises(TypeError, match=r"outside jit.*params\['b'\] is a tracer"):
        jax.jit(lambda p: optim.state_shardings(optim.adam(1e-3), p))(params_on(mesh))


def test_committed_single_device_params_keep_their_device(mesh):
    device = jax.devices()[0]
    params = {"w": jax.device_put(jnp.ones((4, 3)), device)}
    state = optim.adafactor(1e-2, min_dim_size_to_factor=3).init(params)
    assert all(x.committed and x.sharding.device_set == {device} for x in jax.tree.leaves(
        state[0][1:]))


def test_state_dtypes_stay_strong_for_weakly_typed_params():
    """`zeros_like` without a dtype keeps a weak type; the state builders always pass one."""
    weak = {"a": jnp.asarray(1.0), "b": jnp.asarray(2)}
    assert all(x.weak_type for x in jax.tree.leaves(weak))
    for tree in optim.tree.tree_zeros_like(weak), optim.tree.tree_full_like(weak, 3):
        assert [(x.dtype, x.weak_type) for x in jax.tree.leaves(tree)] == [
            (jnp.dtype(jnp.float32), False), (jnp.dtype(jnp.int32), False)]
    for tree, value in (moments_like(weak["a"], value=0.5), 0.5), (
            optim.rprop().init(weak["a"])[0].step_sizes, 0.01):
        assert (tree.dtype, tree.weak_type) == (jnp.float32, False)
        assert tree == np.float32(value)
