"""optim/tree.py (the pytree maths every transform uses, against NumPy on nested trees) and
the structure checks and step helpers of optim/_core."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from optim_helpers import example_tree, params_like

import optim
from optim import tree
from optim._core import steps, structure


def numpy_leaves(t):
    return [np.asarray(leaf, np.float64) for leaf in jax.tree.leaves(t)]


def test_check_same_structure_names_both_sides():
    a = {"w": jnp.zeros(3), "b": jnp.zeros(2)}
    b = {"w": jnp.zeros(3), "c": jnp.zeros(2)}
    with pytest.raises(ValueError, match="grads and state.mu have different tree structures") as e:
        structure.check_same_structure(a, b, "grads", "state.mu")
    message = str(e.value)
    assert "grads: " in message and "state.mu: " in message
    assert "['b']" in message and "['c']" in message


def test_check_same_structure_list_versus_tuple():
    with pytest.raises(ValueError, match="different tree structures"):
        structure.check_same_structure([jnp.zeros(1)], (jnp.zeros(1),), "a", "b")


def test_check_same_structure_shape_mismatch_names_path_and_shapes():
    a = example_tree(jnp.zeros)
    b = example_tree(jnp.zeros)
    b["deep"][1] = (jnp.zeros(3), jnp.zeros((2, 2)))
    with pytest.raises(ValueError) as e:
        structure.check_same_structure(a, b, "updates", "params")
    message = str(e.value)
    assert "['deep'][1][0]" in message
    assert "updates has (2,)" in message and "params has (3,)" in message
    structure.check_same_structure(a, b, "updates", "params", shapes=False)  # structure alone agrees


def test_check_same_structure_accepts_equal_trees():
    structure.check_same_structure(params_like(), params_like(seed=1), "a", "b")


@pytest.mark.parametrize("dtype", [jnp.int32, jnp.bool_, jnp.uint8])
def test_check_float_params_names_the_leaf(dtype):
    params = {"w": jnp.zeros(2), "layers": [jnp.zeros(2), jnp.zeros(2, dtype)]}
    with pytest.raises(TypeError, match=r"\['layers'\]\[1\] has dtype") as e:
        structure.check_float_params(params)
    assert str(jnp.dtype(dtype)) in str(e.value)


def test_check_float_params_accepts_all_float_dtypes():
    structure.check_float_params(
        {"a": jnp.zeros(2, jnp.float32), "b": jnp.zeros(2, jnp.bfloat16), "c": 1.5}
    )


def test_zeros_full_and_casts_keep_or_set_dtypes():
    t = {"a": jnp.ones((2, 3), jnp.bfloat16), "b": [jnp.ones(2, jnp.float32)]}
    zeros = tree.tree_zeros_like(t)
    assert [x.dtype for x in jax.tree.leaves(zeros)] == [jnp.bfloat16, jnp.float32]
    assert all(not np.any(np.asarray(x, np.float32)) for x in jax.tree.leaves(zeros))
    assert {x.dtype for x in jax.tree.leaves(tree.tree_zeros_like(t, jnp.float16))} == {
        jnp.dtype(jnp.float16)
    }
    full = tree.tree_full_like(t, 0.25)
    assert [x.dtype for x in jax.tree.leaves(full)] == [jnp.bfloat16, jnp.float32]
    np.testing.assert_array_equal(np.asarray(full["a"], np.float32), np.full((2, 3), 0.25))
    assert tree.tree_cast(t, None) is t
    assert {x.dtype for x in jax.tree.leaves(tree.tree_cast(t, jnp.float32))} == {
        jnp.dtype(jnp.float32)
    }
    like = tree.tree_cast_like(tree.tree_cast(t, jnp.float32), t)
    assert [x.dtype for x in jax.tree.leaves(like)] == [jnp.bfloat16, jnp.float32]


def test_arithmetic_matches_numpy_on_nested_trees():
    a, b = params_like(seed=1), params_like(seed=2)
    na, nb = numpy_leaves(a), numpy_leaves(b)
    for got, want in [
        (tree.tree_add(a, b), [x + y for x, y in zip(na, nb, strict=True)]),
        (tree.tree_sub(a, b), [x - y for x, y in zip(na, nb, strict=True)]),
        (tree.tree_scale(0.5, a), [0.5 * x for x in na]),
        (tree.tree_add_scaled(a, -3.0, b), [x - 3.0 * y for x, y in zip(na, nb, strict=True)]),
    ]:
        assert jax.tree.structure(got) == jax.tree.structure(a)
        for g, w in zip(numpy_leaves(got), want, strict=True):
            np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(
        tree.tree_vdot(a, b), sum(np.vdot(x, y) for x, y in zip(na, nb, strict=True)), rtol=1e-6
    )
    every = np.concatenate([x.ravel() for x in na])
    np.testing.assert_allclose(tree.tree_sum_of_squares(a), np.sum(every**2), rtol=1e-6)
    np.testing.assert_allclose(tree.tree_global_norm(a), np.linalg.norm(every), rtol=1e-6)


def test_scaling_keeps_each_leafs_dtype():
    t = {"a": jnp.ones(3, jnp.bfloat16), "b": jnp.ones(3, jnp.float32)}
    scaled = tree.tree_scale(jnp.float32(0.3), t)
    assert scaled["a"].dtype == jnp.bfloat16 and scaled["b"].dtype == jnp.float32
    added = tree.tree_add_scaled(t, jnp.float32(0.3), tree.tree_cast(t, jnp.float32))
    assert added["a"].dtype == jnp.bfloat16


def test_reductions_of_bfloat16_accumulate_in_float32():
    # 257 is not a bfloat16 number: a bfloat16 accumulation of the first leaf would give 256.
    ones = {"a": jnp.ones(257, jnp.bfloat16), "b": [jnp.ones(3, jnp.bfloat16)]}
    assert tree.tree_vdot(ones, ones).dtype == jnp.float32
    assert float(tree.tree_vdot(ones, ones)) == 260.0
    assert float(tree.tree_sum_of_squares(ones)) == 260.0
    np.testing.assert_allclose(float(tree.tree_global_norm(ones)), np.sqrt(260.0), rtol=1e-7)


def test_reductions_in_float64(x64):
    t = {"a": jnp.full(3, 1e-3, jnp.float64), "b": jnp.full(2, 1.0 + 1e-12, jnp.float64)}
    assert tree.tree_sum_of_squares(t).dtype == jnp.float64
    np.testing.assert_allclose(float(tree.tree_vdot(t, t)), 3e-6 + 2 * (1 + 1e-12) ** 2, rtol=1e-15)


def test_all_finite_and_where():
    good = params_like()
    assert bool(tree.tree_all_finite(good))
    assert bool(tree.tree_all_finite({}))
    for bad in (jnp.nan, jnp.inf, -jnp.inf):
        broken = params_like()
        broken["deep"][1] = (broken["deep"][1][0].at[1].set(bad), broken["deep"][1][1])
        assert not bool(tree.tree_all_finite(broken))
        assert not bool(jax.jit(tree.tree_all_finite)(broken))
    other = params_like(seed=3)
    picked = jax.jit(tree.tree_where)(jnp.array(False), good, other)
    for x, y in zip(jax.tree.leaves(picked), jax.tree.leaves(other), strict=True):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("order", [1, 2, 3])
def test_update_moment_matches_numpy(order):
    g, m = params_like(seed=1), params_like(seed=2)
    got = tree.update_moment(g, m, 0.8, order)
    for x, gn, mn in zip(numpy_leaves(got), numpy_leaves(g), numpy_leaves(m), strict=True):
        np.testing.assert_allclose(x, 0.8 * mn + 0.2 * gn**order, rtol=1e-6, atol=1e-7)


def test_update_moment_keeps_the_moments_dtype():
    g = {"a": jnp.ones(3, jnp.float32)}
    m = {"a": jnp.zeros(3, jnp.bfloat16)}
    assert tree.update_moment(g, m, 0.9, 2)["a"].dtype == jnp.bfloat16


def test_bias_correction_matches_numpy():
    m = params_like()
    for count in (1, 2, 10):
        got = tree.bias_correction(m, 0.9, jnp.asarray(count, jnp.int32))
        for x, w in zip(numpy_leaves(got), numpy_leaves(m), strict=True):
            np.testing.assert_allclose(x, w / (1 - 0.9**count), rtol=1e-6)


def test_counter_starts_at_zero_and_saturates():
    count = steps.step_counter()
    assert count.dtype == jnp.int32 and int(count) == 0
    assert int(steps.safe_increment(count)) == 1
    top = jnp.asarray(jnp.iinfo(jnp.int32).max, jnp.int32)
    assert int(steps.safe_increment(top)) == jnp.iinfo(jnp.int32).max
    assert int(jax.jit(steps.safe_increment)(top - 1)) == jnp.iinfo(jnp.int32).max
    assert steps.safe_increment(top).dtype == jnp.int32


def test_value_at_numbers_and_schedules():
    assert float(steps.value_at(0.5, None)) == 0.5
    count = jnp.asarray(3, jnp.int32)
    assert float(steps.value_at(lambda t: 2.0 * t, count)) == 6.0
    # A Python number does not promote a low-precision gradient.
    g = jnp.ones(2, jnp.bfloat16)
    assert (steps.value_at(0.5, None) * g).dtype == jnp.bfloat16


def test_public_tree_helpers_are_the_same_objects():
    for name in optim.__all__:
        if name.startswith("tree_") and name != "tree_utils":  # tree_utils: a module
            assert getattr(optim, name) is getattr(tree, name)
