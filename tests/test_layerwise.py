"""The layer-wise rules (optim/transforms/layerwise.py, factored.py, orthogonal.py): LAMB, LARS,
Adafactor and Muon against their NumPy transcriptions (tests/reference/layerwise.py) leaf by leaf
over many jitted steps, and against optax where it differs only as documented; Newton-Schulz
orthogonalization; Adafactor's factored state."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.contrib
import optax.contrib._muon as optax_muon
import pytest
import reference as ref
from optim_helpers import adafactor_tree, flat, leaves_of, params_sequence, run_sequence, sequence

import optim

STEPS = 30


@pytest.mark.slow
def test_muon_direction_matches_optax_without_nesterov():
    # optax debiases the momentum; a scalar factor the normalisation removes, up to eps.
    tree = lambda make: {"a": make((3, 5)), "b": [make((4, 2)), make((3, 3))]}
    _, g = params_sequence(STEPS, 10, tree=tree)
    ours, _ = run_sequence(optim.scale_by_muon(nesterov=False), g)
    dims = lambda tree: jax.tree.map(lambda _: optax_muon.MuonDimensionNumbers(), tree)
    theirs, _ = run_sequence(
        optax.chain(
            optax.contrib.scale_by_muon(nesterov=False, weight_dimension_numbers=dims),
            optax_muon.scale_by_shape(weight_dimension_numbers=dims),
        ),
        g,
    )
    np.testing.assert_allclose(flat(ours), flat(theirs), rtol=1e-4, atol=1e-5)


def test_lamb_matches_numpy():
    g64, g = sequence(STEPS, seed=11)
    p64, p = params_sequence(STEPS, seed=12)
    updates, _ = run_sequence(optim.lamb(0.01, b2=0.99, weight_decay=0.05), g, p)
    expected = ref.lamb(leaves_of(g64), leaves_of(p64), 0.01, b2=0.99, weight_decay=0.05)
    for got, want in zip(leaves_of(updates), expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=2e-4, atol=1e-7)


def test_lamb_trust_ratio_makes_the_relative_step_the_learning_rate():
    params = {"big": jnp.full((3, 3), 100.0), "small": jnp.full((4,), 0.01)}
    grads = jax.tree.map(jnp.ones_like, params)
    tx = optim.lamb(0.01)
    updates, _ = jax.jit(tx.update)(grads, tx.init(params), params)
    for u, p in zip(jax.tree.leaves(updates), jax.tree.leaves(params), strict=True):
        np.testing.assert_allclose(np.linalg.norm(u) / np.linalg.norm(p), 0.01, rtol=1e-5)


@pytest.mark.parametrize("nesterov", [False, True])
def test_lars_matches_the_paper_with_masks(nesterov):
    g64, g = sequence(STEPS, seed=13, zeros=0.05)
    p64, p = params_sequence(STEPS, seed=14)
    # Decay and rescale the matrices only (LARS is usually kept off biases and scales).
    mask = lambda params: jax.tree.map(lambda x: x.ndim == 2, params)
    tx = optim.lars(
        0.1, weight_decay=0.1, weight_decay_mask=mask, trust_coefficient=0.01,
        trust_ratio_mask=mask, momentum=0.9, nesterov=nesterov,
    )
    updates, _ = run_sequence(tx, g, p)
    matrices = [leaf.ndim == 3 for leaf in leaves_of(g64)]
    expected = ref.lars(
        leaves_of(g64), leaves_of(p64), 0.1, 0.1, 0.01, momentum=0.9, nesterov=nesterov,
        decay_leaves=matrices, trust_leaves=matrices,
    )
    for got, want in zip(leaves_of(updates), expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=2e-4, atol=1e-7)


def test_lars_with_weight_decay_differs_from_optax_as_documented():
    g64, g = sequence(5, seed=15)
    p64, p = params_sequence(5, seed=16)
    ours, _ = run_sequence(optim.lars(0.1, weight_decay=0.5, momentum=0.0), g, p)
    theirs, _ = run_sequence(optax.lars(0.1, weight_decay=0.5, momentum=0.0), g, p)
    # The paper's ||g|| + beta ||w|| >= optax's ||g + beta w||: smaller steps here.
    assert np.all(np.abs(flat(ours)) <= np.abs(flat(theirs)) + 1e-7)
    assert not np.allclose(flat(ours), flat(theirs))


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(learning_rate=None, min_dim_size_to_factor=3),
        pytest.param(dict(learning_rate=0.05, min_dim_size_to_factor=2, clipping_threshold=None), marks=pytest.mark.slow),
        pytest.param(dict(learning_rate=0.05, min_dim_size_to_factor=2, clipping_threshold=0.5), marks=pytest.mark.slow),
    ],
)
def test_adafactor_matches_algorithm_4(kwargs):
    g64, g = params_sequence(STEPS, 17, tree=adafactor_tree)
    p64, p = params_sequence(STEPS, 18, tree=adafactor_tree)
    updates, state = run_sequence(optim.adafactor(**kwargs), g, p)
    expected = ref.adafactor(
        leaves_of(g64), leaves_of(p64), kwargs["learning_rate"], kwargs["min_dim_size_to_factor"],
        clipping_threshold=kwargs.get("clipping_threshold", 1.0),
    )
    for got, want in zip(leaves_of(updates), expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=2e-4, atol=1e-7)


def test_adafactor_state_is_factored():
    params = {"m": jnp.zeros((64, 32)), "cube": jnp.zeros((2, 40, 30)), "v": jnp.zeros(50)}
    state = optim.scale_by_factored_rms(min_dim_size_to_factor=16).init(params)
    sizes = {k: (state.v_row[k].shape, state.v_col[k].shape, state.v[k].shape) for k in params}
    assert sizes == {
        "m": ((32,), (64,), (0,)),
        "cube": ((2, 30), (2, 40), (0,)),
        "v": ((0,), (0,), (50,)),
    }


def muon_tree(make):
    return {"w1": make((3, 5)), "w2": make((4, 2)), "bias": make((5,)), "scale": make(()), "sq": make((3, 3))}


@pytest.mark.parametrize("nesterov", [True, False])
def test_muon_matches_the_reference_code(nesterov):
    g64, g = params_sequence(STEPS, 19, tree=muon_tree)
    p64, p = params_sequence(STEPS, 20, tree=muon_tree)
    tx = optim.muon(0.02, weight_decay=0.1, nesterov=nesterov, adam_learning_rate=0.003, adam_weight_decay=0.01)
    updates, state = run_sequence(tx, g, p)
    for name in ("w1", "w2", "sq"):
        (direction,) = ref.scale_by_muon([g64[name]], nesterov=nesterov)
        expected = -0.02 * (direction + 0.1 * p64[name])
        np.testing.assert_allclose(np.asarray(updates[name]), expected, rtol=2e-4, atol=2e-6)
    for name in ("bias", "scale"):
        steps = len(g64[name])
        expected = ref.adamw(
            g64[name].reshape(steps, -1), p64[name].reshape(steps, -1), 0.003,
            weight_decay=0.01,
        )
        np.testing.assert_allclose(
            np.asarray(updates[name]).reshape(steps, -1), expected, rtol=2e-4, atol=1e-7
        )
    # The matrices' moments live in the Muon group only, the others' in the Adam group only.
    muon_state = state.inner_states["muon"][0]
    assert isinstance(muon_state.mu["bias"], optim.MaskedNode)
    assert muon_state.mu["w1"].shape == (3, 5)


def test_newton_schulz_orthogonalizes():
    rng = np.random.default_rng(21)
    u, _ = np.linalg.qr(rng.standard_normal((12, 7)))
    v, _ = np.linalg.qr(rng.standard_normal((7, 7)))
    spread = np.diag(np.geomspace(1e-3, 1.0, 7))
    x = u @ spread @ v.T  # singular values from 1e-3 to 1
    out = np.asarray(optim.orthogonalize_via_newton_schulz(jnp.asarray(x, jnp.float32)))
    np.testing.assert_allclose(out, ref.newton_schulz(x), rtol=1e-3, atol=1e-5)
    singular = np.linalg.svd(out, compute_uv=False)
    assert singular.min() > 0.3 and singular.max() < 1.3, singular
    # The singular vectors are kept: out ~ U S' V^T with the same U and V.
    off_diagonal = u.T @ out @ v - np.diag(np.diag(u.T @ out @ v))
    assert np.abs(off_diagonal).max() < 1e-4


def test_scale_by_muon_rejects_non_matrices():
    with pytest.raises(ValueError, match=r"\['b'\] has shape \(3,\)"):
        optim.scale_by_muon().init({"w": jnp.zeros((2, 2)), "b": jnp.zeros(3)})
