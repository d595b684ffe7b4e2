"""The flat fast path: `optim.fused` gives the per-leaf path's bits.

Each optimizer runs many jitted steps leaf by leaf and fused (params as trees, and params kept
flat), on nested trees of float32, bfloat16 and mixed dtypes; every leaf of the params and of
the moments must be equal to the last bit (fused_helpers.ROUNDING: to a few units in the last
place). Layouts and donation are in test_fused_layout.py, what may be fused in
test_fusable.py. Speed is measured in benchmarks/, not here.
"""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from fused_helpers import (
    DTYPES,
    ROUNDING,
    TRANSFORMS,
    assert_bitwise,
    assert_rounding_close,
    make_grads,
    make_tree,
    moments_as_trees,
    run,
)

import optim
from optim import flatten_params as flatten
from optim import fused, unflatten

# Every transform on the mixed tree (float32 and bfloat16 leaves); a few on one dtype each. The
# quick subset (-m "not slow") keeps the mixed tree for adam, ema (rounding), the chain and
# optax.
QUICK = {"adam", "ema", "chain", "optax_adamw"}
CASES = [
    (name, "mixed") if name in QUICK else pytest.param(name, "mixed", marks=pytest.mark.slow)
    for name in TRANSFORMS
] + [
    pytest.param(name, dtypes, marks=pytest.mark.slow)
    for name in ("momentum", "adam", "nadam", "rmsprop", "chain")
    for dtypes in ("float32", "bfloat16")
]


@pytest.mark.parametrize(("name", "dtypes"), CASES)
def test_fused_equals_per_leaf_bitwise(name, dtypes, key):
    """Params, moments and counts after 25 jitted steps: the per-leaf path's, bit for bit."""
    k_params, k_grads = jax.random.split(key)
    params = make_tree(k_params, DTYPES[dtypes])
    grads_seq = make_grads(k_grads, DTYPES[dtypes])
    make = TRANSFORMS[name]

    ref_params, ref_state, _ = run(make(), params, grads_seq)
    tree_params, tree_state, tree_traces = run(fused(make()), params, grads_seq)
    flat_params, flat_state, flat_traces = run(
        fused(make()), flatten(params), [flatten(g) for g in grads_seq]
    )
    for mode, out, state in (
        ("tree", tree_params, tree_state),
        ("flat", unflatten(flat_params), flat_state),
    ):
        check = assert_rounding_close if (name, mode) in ROUNDING else assert_bitwise
        check(ref_state, moments_as_trees(state), f"{name} state, params as {mode}")
        check(ref_params, out, f"{name} params, params as {mode}")
    assert tree_traces == 1 and flat_traces == 1  # no retrace on step two
    # The updates moved the params (a test that cannot fail is worthless).
    assert not jnp.array_equal(ref_params["dense"]["w"], params["dense"]["w"])


def test_rounding_close_tells_rounding_from_an_error():
    x = np.array([1.0, -2.0, 0.5, 3.0], np.float32)
    assert_rounding_close({"a": x}, {"a": np.nextafter(x, np.float32(9))}, "last bits")
    with pytest.raises(AssertionError):
        assert_rounding_close({"a": x}, {"a": x * np.float32(1.0001)}, "a wrong rule")


def test_global_norm_clip_is_the_same_norm(key):
    """An active global-norm clip: the same norm summed buffer by buffer, close to the bit.

    The per-leaf path sums each leaf, then the leaves; the fused path sums each buffer: the
    order differs, so the clipped updates may differ in their last bits (documented). With a
    single leaf the two orders coincide and the result is exact.
    """
    k_params, k_grads = jax.random.split(key)
    make = lambda: optim.chain(optim.clip_by_global_norm(0.5), optim.adam(1e-2))
    params = make_tree(k_params, DTYPES["float32"])
    grads_seq = make_grads(k_grads, DTYPES["float32"], steps=10)
    ref, _, _ = run(make(), params, grads_seq)
    out, _, _ = run(fused(make()), flatten(params), [flatten(g) for g in grads_seq])
    chex.assert_trees_all_close(ref, out.unflatten(), rtol=1e-5, atol=1e-6)
    norm_tree = optim.tree_global_norm(grads_seq[0])
    norm_flat = optim.tree_global_norm(flatten(grads_seq[0]))
    np.testing.assert_allclose(norm_flat, norm_tree, rtol=1e-6)
    assert float(norm_tree) > 0.5  # the clip is active

    one = {"w": params["dense"]["w"]}
    one_grads = [{"w": g["dense"]["w"]} for g in grads_seq]
    ref, _, _ = run(make(), one, one_grads)
    out, _, _ = run(fused(make()), one, one_grads)
    assert_bitwise(ref, out, "single leaf")


def test_fused_inside_masked(key):
    """Per-leaf choices wrap the fused part: masked(fused(adam)) equals masked(adam)."""
    k_params, k_grads = jax.random.split(key)
    params = make_tree(k_params, DTYPES["float32"])
    grads_seq = make_grads(k_grads, DTYPES["float32"], steps=5)
    mask = lambda p: jax.tree.map(lambda x: x.ndim > 1, p)
    ref, _, _ = run(optim.masked(optim.sgd(0.1, momentum=0.9), mask), params, grads_seq)
    out, _, _ = run(optim.masked(fused(optim.sgd(0.1, momentum=0.9)), mask), params, grads_seq)
    assert_bitwise(ref, out, "masked")
    assert not jnp.array_equal(out["dense"]["w"], params["dense"]["w"])
