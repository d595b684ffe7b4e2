"""The flat fast path: `optim.flatten` and `optim.fused` give the per-leaf path's bits.

Each optimizer runs many jitted steps leaf by leaf and fused (params as trees, and params kept
flat), on nested trees of float32, bfloat16 and mixed dtypes; every leaf of the params and of
the moments must be equal to the last bit. Speed is measured in benchmarks/, not here.
"""

import os
import subprocess
import sys
import textwrap

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optim
from optim import FlatTree, FusionError, check_fusable, flatten, fused, fused_step, unflatten

STEPS = 25


def _tree(key, dtypes=(jnp.float32, jnp.float32, jnp.float32), scale=1.0):
    """A nested tree (dict, list, tuple) of several shapes; dtypes of its three kinds of leaf."""
    k = jax.random.split(key, 5)
    a, b, c = dtypes
    return {
        "dense": {
            "w": (scale * jax.random.normal(k[0], (6, 5))).astype(a),
            "b": (scale * jax.random.normal(k[1], (5,))).astype(b),
        },
        "blocks": [
            (scale * jax.random.normal(k[2], (3, 2, 2))).astype(a),
            (scale * jax.random.normal(k[3], (7,))).astype(c),
        ],
        "out": ((scale * jax.random.normal(k[4], ())).astype(c),),
    }


DTYPES = {
    "float32": (jnp.float32,) * 3,
    "bfloat16": (jnp.bfloat16,) * 3,
    "mixed": (jnp.float32, jnp.bfloat16, jnp.float32),
}


def _cosine(count):
    return 1e-2 * 0.5 * (1 + jnp.cos(jnp.pi * jnp.minimum(count, 100) / 100))


TRANSFORMS = {
    "sgd": lambda: optim.sgd(0.05),
    "momentum": lambda: optim.sgd(0.05, momentum=0.9),
    "nesterov": lambda: optim.sgd(0.05, momentum=0.9, nesterov=True),
    "adam": lambda: optim.adam(1e-2),
    "adam_nesterov": lambda: optim.adam(1e-2, nesterov=True),
    "adam_bf16_mu": lambda: optim.adam(1e-2, mu_dtype=jnp.bfloat16),
    "adamw": lambda: optim.adamw(1e-2, weight_decay=0.1),
    "nadam": lambda: optim.nadam(1e-2),
    "amsgrad": lambda: optim.amsgrad(1e-2),
    "adamax": lambda: optim.adamax(1e-2),
    "radam": lambda: optim.radam(1e-2),
    "adabelief": lambda: optim.adabelief(1e-2),
    "rmsprop": lambda: optim.rmsprop(1e-2, centered=True, momentum=0.9, bias_correction=True),
    "adagrad": lambda: optim.adagrad(1e-1),
    "adadelta": lambda: optim.adadelta(),
    "rprop": lambda: optim.rprop(1e-2),
    "adaptive_gains": lambda: optim.adaptive_gains(1e-2),
    "lion": lambda: optim.lion(1e-3),
    "schedule_free_sgd": lambda: optim.schedule_free_sgd(1e-2),
    "schedule_free_adamw": lambda: optim.schedule_free_adamw(1e-2),
    "ema": lambda: optim.chain(optim.ema(0.9, debias=True), optim.scale(-0.1)),
    # The 4-transform chain; max_norm above the gradients' norm: the clip is a no-op by value
    # (its norm is still computed), see test_global_norm_clip_is_the_same_norm otherwise.
    "chain": lambda: optim.chain(
        optim.clip_by_global_norm(1e4),
        optim.scale_by_adam(),
        optim.add_decayed_weights(1e-2),
        optim.scale_by_learning_rate(_cosine),
    ),
    "inject_adam": lambda: optim.inject_hyperparams(optim.adam)(learning_rate=1e-2),
    "optax_adamw": lambda: optax.adamw(1e-2, weight_decay=0.1),
}

# Where XLA's code generation itself rounds a last bit differently from one program to another
# (measured on XLA:CPU, jax 0.10.2): a multiply-add may be contracted into an FMA on either
# product (`ema`'s `d*m + (1-d)*g` when the gathered grads are fused in), and a short leaf's last
# entries run in scalar code rather than vector code (`adagrad`). A few entries then differ in
# their last bit, and the moments carry that into the next steps (the same happens leaf by leaf
# between two trees); these cases are held to a few units in the last place. optax's transforms
# divide by a shared scalar, which XLA turns into a product with its reciprocal or not depending
# on the program. Everything else is equal to the last bit.
ROUNDING = {("ema", "tree"), ("adagrad", "flat"), ("nadam", "tree"), ("optax_adamw", "tree"),
           ("optax_adamw", "flat")}


def _grads(key, dtypes, steps=STEPS):
    keys = jax.random.split(key, steps)
    return [_tree(k, dtypes, scale=3.0) for k in keys]


def _run(tx, params, grads_seq):
    """`len(grads_seq)` jitted steps; returns the params, the state and the number of traces."""
    state = tx.init(params)
    traces = []

    @jax.jit
    def step(params, state, grads):
        traces.append(1)
        updates, state = tx.update(grads, state, params)
        return optim.apply_updates(params, updates), state

    for grads in grads_seq:
        params, state = step(params, state, grads)
    return params, state, len(traces)


def _assert_bitwise(expected, actual, what):
    chex.assert_trees_all_equal_structs(expected, actual)
    for (path, x), y in zip(
        jax.tree_util.tree_leaves_with_path(expected), jax.tree.leaves(actual), strict=True
    ):
        assert x.dtype == y.dtype, (what, jax.tree_util.keystr(path), x.dtype, y.dtype)
        assert jnp.array_equal(x, y), (what, jax.tree_util.keystr(path))


def _assert_rounding_close(expected, actual, what, ulps=4):
    """Equal up to rounding: within `ulps` units in the last place of each leaf's largest entry.

    Differences of one last bit in a step are carried by the moments into the next steps; over
    25 steps the worst seen is about 2 such units (ema, float32), an error in a rule far more.
    """
    chex.assert_trees_all_equal_structs(expected, actual)
    for (path, x), y in zip(
        jax.tree_util.tree_leaves_with_path(expected), jax.tree.leaves(actual), strict=True
    ):
        assert x.dtype == y.dtype, (what, jax.tree_util.keystr(path), x.dtype, y.dtype)
        if not jnp.issubdtype(x.dtype, jnp.floating):
            assert jnp.array_equal(x, y), (what, jax.tree_util.keystr(path))
            continue
        x64, y64 = (np.asarray(v, np.float64) for v in (x, y))
        bound = ulps * float(jnp.finfo(x.dtype).eps) * max(np.abs(x64).max(), 1e-30)
        assert np.abs(x64 - y64).max() <= bound, (what, jax.tree_util.keystr(path))


def _moments_as_trees(state):
    return jax.tree.map(
        lambda x: x.unflatten() if isinstance(x, FlatTree) else x,
        state,
        is_leaf=lambda x: isinstance(x, FlatTree),
    )


# Every transform on the mixed tree (float32 and bfloat16 leaves); a few on one dtype each.
CASES = [(name, "mixed") for name in TRANSFORMS] + [
    (name, dtypes)
    for name in ("momentum", "adam", "nadam", "rmsprop", "chain")
    for dtypes in ("float32", "bfloat16")
]


@pytest.mark.parametrize(("name", "dtypes"), CASES)
def test_fused_equals_per_leaf_bitwise(name, dtypes, key):
    """Params, moments and counts after 25 jitted steps: the per-leaf path's, bit for bit."""
    k_params, k_grads = jax.random.split(key)
    params = _tree(k_params, DTYPES[dtypes])
    grads_seq = _grads(k_grads, DTYPES[dtypes])
    make = TRANSFORMS[name]

    ref_params, ref_state, _ = _run(make(), params, grads_seq)
    tree_params, tree_state, tree_traces = _run(fused(make()), params, grads_seq)
    flat_params, flat_state, flat_traces = _run(
        fused(make()), flatten(params), [flatten(g) for g in grads_seq]
    )
    for mode, out, state in (
        ("tree", tree_params, tree_state),
        ("flat", unflatten(flat_params), flat_state),
    ):
        check = _assert_rounding_close if (name, mode) in ROUNDING else _assert_bitwise
        check(ref_state, _moments_as_trees(state), f"{name} state, params as {mode}")
        check(ref_params, out, f"{name} params, params as {mode}")
    assert tree_traces == 1 and flat_traces == 1  # no retrace on step two
    # The updates moved the params (a test that cannot fail is worthless).
    assert not jnp.array_equal(ref_params["dense"]["w"], params["dense"]["w"])


def test_rounding_close_tells_rounding_from_an_error():
    x = np.array([1.0, -2.0, 0.5, 3.0], np.float32)
    _assert_rounding_close({"a": x}, {"a": np.nextafter(x, np.float32(9))}, "last bits")
    with pytest.raises(AssertionError):
        _assert_rounding_close({"a": x}, {"a": x * np.float32(1.0001)}, "a wrong rule")


def test_flatten_round_trip_and_layout(key):
    params = _tree(key, DTYPES["mixed"])
    flat = flatten(params)
    assert list(flat.buffers) == ["float32", "bfloat16"]
    assert flat.buffers["float32"].shape == (6 * 5 + 3 * 2 * 2 + 7 + 1,)
    assert flat.buffers["bfloat16"].shape == (5,)
    _assert_bitwise(params, flat.unflatten(), "round trip")
    # A FlatTree is a pytree of its buffers: it jits, and its layout is static.
    doubled = jax.jit(lambda f: jax.tree.map(lambda b: 2 * b, f))(flat)
    assert isinstance(doubled, FlatTree) and doubled.layout == flat.layout
    _assert_bitwise(jax.tree.map(lambda x: 2 * x, params), doubled.unflatten(), "doubled")
    assert flatten(flat) is flat
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_leaves_with_path(flat)]
    assert paths == ["['float32']", "['bfloat16']"]


def test_large_leaves_keep_their_own_buffer(key):
    """With tree params, leaves of `concat_below` entries or more are not gathered each step."""
    k_params, k_grads = jax.random.split(key)
    params = _tree(k_params, DTYPES["mixed"])
    grads_seq = _grads(k_grads, DTYPES["mixed"], steps=5)
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
    ref, ref_state, _ = _run(optim.adam(1e-2), params, grads_seq)
    out, state, _ = _run(tx, params, grads_seq)
    _assert_bitwise(ref_state, _moments_as_trees(state), "state")
    _assert_bitwise(ref, out, "concat_below")


def test_flat_grads_from_unflatten_are_flat(key):
    """A loss of `flat.unflatten()` differentiates to a FlatTree with the same layout."""
    params = _tree(key, DTYPES["float32"])
    flat = flatten(params)

    def loss(tree):
        return sum(jnp.sum(jnp.sin(x) * x) for x in jax.tree.leaves(tree))

    flat_grads = jax.grad(lambda f: loss(f.unflatten()))(flat)
    assert isinstance(flat_grads, FlatTree) and flat_grads.layout == flat.layout
    _assert_bitwise(jax.grad(loss)(params), flat_grads.unflatten(), "grads")


def test_global_norm_clip_is_the_same_norm(key):
    """An active global-norm clip: the same norm summed buffer by buffer, close to the bit.

    The per-leaf path sums each leaf, then the leaves; the fused path sums each buffer: the
    order differs, so the clipped updates may differ in their last bits (documented). With a
    single leaf the two orders coincide and the result is exact.
    """
    k_params, k_grads = jax.random.split(key)
    make = lambda: optim.chain(optim.clip_by_global_norm(0.5), optim.adam(1e-2))
    params = _tree(k_params, DTYPES["float32"])
    grads_seq = _grads(k_grads, DTYPES["float32"], steps=10)
    ref, _, _ = _run(make(), params, grads_seq)
    out, _, _ = _run(fused(make()), flatten(params), [flatten(g) for g in grads_seq])
    chex.assert_trees_all_close(ref, out.unflatten(), rtol=1e-5, atol=1e-6)
    norm_tree = optim.tree_global_norm(grads_seq[0])
    norm_flat = optim.tree_global_norm(flatten(grads_seq[0]))
    np.testing.assert_allclose(norm_flat, norm_tree, rtol=1e-6)
    assert float(norm_tree) > 0.5  # the clip is active

    one = {"w": params["dense"]["w"]}
    one_grads = [{"w": g["dense"]["w"]} for g in grads_seq]
    ref, _, _ = _run(make(), one, one_grads)
    out, _, _ = _run(fused(make()), one, one_grads)
    _assert_bitwise(ref, out, "single leaf")


def _per_leaf_normalize():
    """Divide each leaf by its own largest entry: a per-leaf statistic, not elementwise."""
    return optim.stateless(
        lambda updates, params: jax.tree.map(lambda u: u / jnp.max(jnp.abs(u)), updates)
    )


UNSUPPORTED = {
    "lamb": (lambda: optim.lamb(1e-3), "per-leaf norm"),
    "lars": (lambda: optim.lars(1e-3), "per-leaf norm"),
    "adafactor": (lambda: optim.adafactor(1e-3), "single leaves"),
    "muon": (lambda: optim.muon(1e-3), "not an elementwise operation"),
    "masked": (
        lambda: optim.masked(optim.adam(1e-3), lambda p: jax.tree.map(lambda x: x.ndim > 1, p)),
        "treats leaves differently",
    ),
    "add_noise": (lambda: optim.add_noise(0.01, 0.55, 0), "random"),
    "optax_lamb": (lambda: optax.lamb(1e-3), "per-leaf norm"),
    "per_leaf_max": (_per_leaf_normalize, "single leaves"),
    "mask_fn": (
        lambda: optim.adamw(1e-3, mask=lambda p: jax.tree.map(lambda x: x.ndim > 1, p)),
        "treats leaves differently",
    ),
    "mask_tree": (
        lambda: optim.adamw(1e-3, mask={"dense": {"w": True, "b": False}}),
        "probe tree",
    ),
    "row_sums": (
        lambda: optim.stateless(
            lambda u, p: jax.tree.map(lambda x: x - jnp.mean(x, axis=-1, keepdims=True), u)
        ),
        "some axes only",
    ),
    "cumsum": (
        lambda: optim.stateless(lambda u, p: jax.tree.map(lambda x: jnp.cumsum(x), u)),
        "not an elementwise operation",
    ),
}


@pytest.mark.parametrize("name", UNSUPPORTED)
def test_unsupported_transforms_raise(name, key):
    make, message = UNSUPPORTED[name]
    params = _tree(key, DTYPES["float32"])
    with pytest.raises(FusionError, match=message):
        check_fusable(make(), params)
    tx = fused(make())
    state = tx.init(params)
    with pytest.raises(FusionError, match="elementwise"):
        jax.jit(tx.update)(params, state, params)


def test_check_accepts_the_elementwise_family(key):
    params = _tree(key, DTYPES["mixed"])
    for make in (
        *TRANSFORMS.values(),
        lambda: optim.chain(optim.clip(1.0), optim.sign(), optim.scale(-0.1)),
        lambda: optim.adagrad(0.1),
        lambda: optim.adadelta(),
        lambda: optim.rprop(),
        lambda: optax.chain(optax.clip_by_global_norm(1.0), optax.lion(1e-4)),
        lambda: optax.apply_if_finite(optax.adam(1e-3), 3),
        lambda: optim.nadam(1e-3),
        lambda: optim.amsgrad(1e-3),
        lambda: optim.adamax(1e-3),
        lambda: optim.radam(1e-3),
        lambda: optim.lion(1e-4),
        lambda: optim.apply_if_finite(optim.adam(1e-3), 3),
        lambda: optim.MultiSteps(optim.adam(1e-3), 4),
        lambda: optim.lookahead(optim.adam(1e-3), 5, 0.5),
    ):
        check_fusable(make(), params)


def test_fused_inside_masked(key):
    """Per-leaf choices wrap the fused part: masked(fused(adam)) equals masked(adam)."""
    k_params, k_grads = jax.random.split(key)
    params = _tree(k_params, DTYPES["float32"])
    grads_seq = _grads(k_grads, DTYPES["float32"], steps=5)
    mask = lambda p: jax.tree.map(lambda x: x.ndim > 1, p)
    ref, _, _ = _run(optim.masked(optim.sgd(0.1, momentum=0.9), mask), params, grads_seq)
    out, _, _ = _run(optim.masked(fused(optim.sgd(0.1, momentum=0.9)), mask), params, grads_seq)
    _assert_bitwise(ref, out, "masked")
    assert not jnp.array_equal(out["dense"]["w"], params["dense"]["w"])


def test_layout_mismatch_is_named(key):
    params = _tree(key, DTYPES["float32"])
    tx = fused(optim.adam(1e-3))
    state = tx.init(params)
    with pytest.raises(ValueError, match="does not match the flat layout"):
        tx.update({"other": params["dense"]}, state)
    wrong = jax.tree.map(lambda x: x.astype(jnp.bfloat16), params)
    with pytest.raises(ValueError, match="bfloat16"):
        tx.update(wrong, state)


def test_fused_step_donates_and_keeps_one_copy(key):
    """The donated params and state are reused for the results: no second copy stays alive."""
    params = flatten(_tree(key, DTYPES["mixed"]))
    grads = flatten(_tree(jax.random.split(key)[0], DTYPES["mixed"]))
    tx = fused(optim.adam(1e-2))
    state = tx.init(params)
    step = fused_step(tx)
    compiled = step.lower(params, state, grads).compile()
    memory = compiled.memory_analysis()
    nbytes = lambda t: sum(x.nbytes for x in jax.tree.leaves(t))
    assert memory.alias_size_in_bytes == nbytes(params) + nbytes(state)
    expected, expected_state, _ = _run(tx, params, [grads])
    new_params, new_state = step(params, state, grads)
    assert all(x.is_deleted() for x in jax.tree.leaves((params, state)))
    _assert_bitwise(expected.unflatten(), new_params.unflatten(), "fused_step")
    _assert_bitwise(expected_state, new_state, "fused_step state")


def test_fused_under_a_one_device_mesh(key):
    mesh = jax.sharding.Mesh(np.array(jax.devices()[:1]), ("data",))
    replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    params = jax.device_put(_tree(key, DTYPES["mixed"]), replicated)
    grads_seq = [jax.device_put(g, replicated) for g in _grads(key, DTYPES["mixed"], steps=3)]
    ref, _, _ = _run(optim.adamw(1e-2), params, grads_seq)
    out, _, _ = _run(fused(optim.adamw(1e-2)), flatten(params), [flatten(g) for g in grads_seq])
    _assert_bitwise(ref, out.unflatten(), "one-device mesh")


_SHARDED_SCRIPT = textwrap.dedent(
    """
    import jax, jax.numpy as jnp, numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
    import optim
    from optim import flatten, fused

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
