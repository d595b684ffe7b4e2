"""Per-parameter groups (optim/wrappers/partition.py): partition, masked and set_to_zero, each
against a NumPy reference over many jitted steps on nested pytrees, their state, their errors,
and optax transforms inside them."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import reference as ref
from optim_helpers import flat, leaves_of, run_sequence, sequence

import optim

STEPS = 25


def rows(leaf_sequence):
    """(T, n) float64 of one leaf's sequence."""
    leaf_sequence = np.asarray(leaf_sequence, np.float64)
    return leaf_sequence.reshape(len(leaf_sequence), -1)


LABELS = {"w": "adam", "b": "sgd", "deep": ["frozen", ("adam", "sgd")]}


def three_groups():
    return {
        "adam": optim.adam(0.01),
        "sgd": optim.sgd(0.1, momentum=0.9),
        "frozen": optim.set_to_zero(),
    }


@pytest.mark.parametrize(
    "labels",
    [LABELS, lambda params: LABELS],
    ids=["tree", "function"],
)
def test_partition_runs_each_group_on_its_own_leaves(labels):
    g64, g = sequence(STEPS, seed=1)
    updates, state = run_sequence(optim.partition(three_groups(), labels), g)
    got = dict(zip(["b", "d0", "d1", "d2", "w"], leaves_of(updates), strict=True))
    src = dict(zip(["b", "d0", "d1", "d2", "w"], leaves_of(g64), strict=True))
    # Adam sees the leaves labelled "adam" together (one tree), SGD likewise.
    adam_rows = np.concatenate([rows(src["w"]), rows(src["d1"])], axis=1)
    expected = ref.adam(adam_rows, 0.01)
    np.testing.assert_allclose(np.concatenate([rows(got["w"]), rows(got["d1"])], axis=1), expected, rtol=1e-4, atol=1e-7)
    sgd_rows = np.concatenate([rows(src["b"]), rows(src["d2"])], axis=1)
    np.testing.assert_allclose(
        np.concatenate([rows(got["b"]), rows(got["d2"])], axis=1),
        ref.sgd(sgd_rows, 0.1, momentum=0.9),
        rtol=1e-5,
        atol=1e-7,
    )
    np.testing.assert_array_equal(got["d0"], 0.0)
    # A group holds state for its own leaves only; the frozen group holds none.
    assert state.inner_states["frozen"] == optim.EmptyState()
    adam_mu = optim.get_field(state.inner_states["adam"], "mu")
    assert isinstance(adam_mu["b"], optim.MaskedNode)
    assert isinstance(adam_mu["deep"][0], optim.MaskedNode)
    assert adam_mu["w"].shape == (3, 2)


def test_frozen_group_allocates_no_state():
    params = {"encoder": {"w": jnp.zeros((100, 100)), "b": jnp.zeros(100)}, "head": jnp.zeros((100, 3))}
    tx = optim.partition(
        {"train": optim.adam(1e-3), "frozen": optim.set_to_zero()},
        {"encoder": "frozen", "head": "train"},  # a prefix of the params
    )
    state = tx.init(params)
    sizes = [np.size(leaf) for leaf in jax.tree.leaves(state)]
    assert sum(sizes) == 2 * 300 + 1  # Adam's mu and nu of the head, and its count


def test_partition_forwards_extras_and_checks_labels():
    params = {"a": jnp.ones(2), "b": jnp.ones(2)}
    tx = optim.partition(
        {"x": optim.chain(optim.sgd(1.0), optim.reduce_on_plateau(patience=1)), "y": optim.sgd(1.0)},
        {"a": "x", "b": "y"},
    )
    state = tx.init(params)
    update = jax.jit(tx.update)
    for value in (1.0, 2.0):
        updates, state = update(params, state, params, value=value)
    np.testing.assert_allclose(updates["a"], -0.1)  # cut by 10 after one value without improvement
    np.testing.assert_allclose(updates["b"], -1.0)
    with pytest.raises(ValueError, match=r"labels 'z' that have no transform"):
        optim.partition({"x": optim.sgd()}, {"a": "x", "b": "z"}).init(params)
    with pytest.raises(ValueError, match="param_labels must have the structure of the params"):
        optim.partition({"x": optim.sgd()}, {"a": "x"}).init(params)
    with pytest.raises(TypeError, match="transforms"):
        optim.partition({}, {})


def test_masked_applies_inner_to_the_masked_leaves_and_passes_the_others():
    g64, g = sequence(STEPS, seed=2)
    mask = {"w": True, "b": False, "deep": [False, (True, True)]}
    updates, state = run_sequence(optim.masked(optim.adam(0.01), mask), g)
    got, src = leaves_of(updates), leaves_of(g64)
    chosen = [2, 3, 4]  # leaf order: b, deep0, deep1, deep2, w
    expected = ref.adam(np.concatenate([rows(src[i]) for i in chosen], axis=1), 0.01)
    np.testing.assert_allclose(np.concatenate([rows(got[i]) for i in chosen], axis=1), expected, rtol=1e-4, atol=1e-7)
    for i in (0, 1):
        np.testing.assert_array_equal(got[i], src[i])
    assert isinstance(optim.get_field(state, "mu")["b"], optim.MaskedNode)


def test_masked_keeps_non_float_leaves_out():
    params = {"w": jnp.ones(3), "step": jnp.array(7, jnp.int32)}
    tx = optim.masked(optim.adam(0.1), lambda p: jax.tree.map(lambda x: jnp.issubdtype(x.dtype, jnp.floating), p))
    state = tx.init(params)
    grads = {"w": jnp.ones(3), "step": jnp.array(0, jnp.int32)}
    updates, _ = jax.jit(tx.update)(grads, state, params)
    np.testing.assert_allclose(updates["w"], -0.1, rtol=1e-5)
    assert updates["step"].dtype == jnp.int32
    with pytest.raises(TypeError, match="mask leaves must be Python booleans"):
        optim.masked(optim.sgd(), {"w": jnp.array(True), "step": False}).init(params)


def test_optax_transforms_inside_partition_and_masked_inside_optax():
    _, g = sequence(STEPS, seed=9)
    groups = {"adam": optax.adam(0.01), "sgd": optax.sgd(0.1, momentum=0.9), "frozen": optax.set_to_zero()}
    theirs, _ = run_sequence(optim.partition(groups, LABELS), g)
    ours, _ = run_sequence(optim.partition(three_groups(), LABELS), g)
    np.testing.assert_allclose(flat(theirs), flat(ours), rtol=1e-5, atol=1e-8)
    mask = {"w": True, "b": False, "deep": [False, (True, True)]}
    inside_optax = optax.chain(optim.masked(optim.scale_by_adam(), mask), optax.scale(-0.01))
    all_optax = optax.chain(optax.masked(optax.scale_by_adam(), mask), optax.scale(-0.01))
    np.testing.assert_allclose(
        flat(run_sequence(inside_optax, g)[0]), flat(run_sequence(all_optax, g)[0]), rtol=1e-5, atol=1e-8
    )
