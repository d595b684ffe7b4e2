"""The modern optimizers (optim/modern.py, lion.py, noise.py, layerwise.py, factored.py,
orthogonal.py, schedule_free.py, sam.py, modern_aliases.py): each against a NumPy
transcription of its paper (tests/reference.py) over many jitted steps on nested pytrees, and
against optax where optax follows the same convention."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.contrib
import optax.contrib._muon as optax_muon
import pytest
import reference as ref
from optim_helpers import example_tree, flat, run_sequence, sequence

import optim

STEPS = 30


def params_sequence(steps, seed, dtype=jnp.float32, tree=example_tree):
    """A sequence of params (open loop): random values of order one, some exactly zero."""
    rng = np.random.default_rng(seed)
    exact = tree(lambda shape: rng.uniform(-1.5, 1.5, (steps, *shape)))
    cast = jax.tree.map(lambda x: jnp.asarray(x, dtype), exact)
    return jax.tree.map(lambda x: np.asarray(x, np.float64), cast), cast


def leaves_of(tree_sequence):
    return [np.asarray(leaf, np.float64) for leaf in jax.tree.leaves(tree_sequence)]


# ----------------------------------------------------------------- elementwise rules vs NumPy

ELEMENTWISE = {
    "nadam": (lambda: optim.nadam(0.01), lambda g, p: ref.nadam(g, 0.01)),
    "nadam_constant": (
        lambda: optim.nadam(0.01, b1=0.8, momentum_decay=None),
        lambda g, p: ref.nadam(g, 0.01, b1=0.8, momentum_decay=None),
    ),
    "nadam_fast_schedule": (
        lambda: optim.nadam(0.01, b2=0.99, momentum_decay=0.1),
        lambda g, p: ref.nadam(g, 0.01, b2=0.99, momentum_decay=0.1),
    ),
    "amsgrad": (lambda: optim.amsgrad(0.01, b2=0.9), lambda g, p: ref.amsgrad(g, 0.01, b2=0.9)),
    "amsgrad_pytorch": (
        lambda: optim.amsgrad(0.01, b2=0.9, debias_before_max=False),
        lambda g, p: ref.amsgrad(g, 0.01, b2=0.9, debias_before_max=False),
    ),
    "adamax": (lambda: optim.adamax(0.01, b2=0.95), lambda g, p: ref.adamax(g, 0.01, b2=0.95)),
    "radam": (lambda: optim.radam(0.01), lambda g, p: ref.radam(g, 0.01)),
    "radam_b2_0.9": (
        lambda: optim.radam(0.01, b2=0.9, threshold=6.0),
        lambda g, p: ref.radam(g, 0.01, b2=0.9, threshold=6.0),
    ),
    "adabelief": (lambda: optim.adabelief(0.01), lambda g, p: ref.adabelief(g, 0.01)),
    "lion": (
        lambda: optim.lion(0.01, b1=0.8, weight_decay=0.1),
        lambda g, p: ref.lion(g, p, 0.01, b1=0.8, weight_decay=0.1),
    ),
}


@pytest.mark.parametrize("name", list(ELEMENTWISE))
def test_elementwise_rules_match_numpy_float32(name):
    make, reference = ELEMENTWISE[name]
    g64, g = sequence(STEPS, seed=1, zeros=0.1)
    p64, p = params_sequence(STEPS, seed=2)
    updates, _ = run_sequence(make(), g, p)
    expected = reference(flat(g64), flat(p64))
    np.testing.assert_allclose(flat(updates), expected, rtol=2e-4, atol=1e-6)


@pytest.mark.parametrize("name", ["nadam", "amsgrad_pytorch", "radam", "adabelief", "lion"])
def test_elementwise_rules_match_numpy_float64(name, x64):
    make, reference = ELEMENTWISE[name]
    g64, g = sequence(STEPS, seed=3, dtype=jnp.float64)
    p64, p = params_sequence(STEPS, seed=4, dtype=jnp.float64)
    updates, _ = run_sequence(make(), g, p)
    assert jax.tree.leaves(updates)[0].dtype == jnp.float64
    # Scalar coefficients (bias corrections, schedules) are float32, as in optim.tree.
    np.testing.assert_allclose(flat(updates), reference(flat(g64), flat(p64)), rtol=1e-6)


def test_radam_switches_to_the_rectified_step_at_the_threshold():
    g64, g = sequence(8, seed=5)
    updates, _ = run_sequence(optim.scale_by_radam(), g)
    out, grads = flat(updates), flat(g64)
    # b2 = 0.999: rho_t < 5 for t <= 5, so the first five steps are the debiased momentum.
    rho = [2 / 0.001 - 1 - 2 * t * 0.999**t / (1 - 0.999**t) for t in range(1, 9)]
    assert max(rho[:5]) < 5 <= rho[5]
    momentum = ref.ema(grads, 0.9)
    np.testing.assert_allclose(out[:5], momentum[:5], rtol=1e-5)
    assert not np.allclose(out[5], momentum[5], rtol=0.1)


def test_nadam_schedule_differs_from_constant_momentum_early_and_both_descend():
    g64, g = sequence(5, seed=6)
    scheduled = ref.scale_by_nadam(flat(g64))
    constant = ref.scale_by_nadam(flat(g64), momentum_decay=None)
    assert np.abs(scheduled - constant).max() > 0.1
    for momentum_decay in (0.004, None):
        tx = optim.nadam(0.05, momentum_decay=momentum_decay)
        final = minimize_quadratic(tx, 150)
        assert final < 1e-2 * quadratic_gap(X0)


def test_amsgrad_denominator_never_shrinks():
    # Large gradients then small ones: Adam's denominator shrinks, AMSGrad's (optax's convention,
    # the max over the debiased v) stays; PyTorch's convention only after the correction ends.
    grads = np.concatenate([np.full((5, 1), 10.0), np.full((20, 1), 0.1)])
    steps = np.abs(ref.scale_by_amsgrad(grads, b2=0.9))
    m_hat = np.abs(ref.ema(grads, 0.9))
    denominators = m_hat / steps
    assert np.all(np.diff(denominators[:, 0]) >= -1e-9)
    updates, _ = run_sequence(optim.scale_by_amsgrad(b2=0.9), jnp.asarray(grads, jnp.float32))
    np.testing.assert_allclose(np.asarray(updates), ref.scale_by_amsgrad(grads, b2=0.9), rtol=1e-5)


# ----------------------------------------------------------------- the same as optax

OPTAX_SAME = {
    "nadam": (
        lambda: optim.nadam(0.01, momentum_decay=None),
        lambda: optax.nadam(0.01),
    ),
    "amsgrad": (lambda: optim.amsgrad(0.01, b2=0.95), lambda: optax.amsgrad(0.01, b2=0.95)),
    "adamax": (lambda: optim.adamax(0.01), lambda: optax.adamax(0.01)),
    "radam": (lambda: optim.radam(0.01, b2=0.99), lambda: optax.radam(0.01, b2=0.99)),
    "adabelief": (lambda: optim.adabelief(0.01), lambda: optax.adabelief(0.01)),
    "lion": (
        lambda: optim.lion(0.01, weight_decay=0.1),
        lambda: optax.lion(0.01, weight_decay=0.1),
    ),
    "lamb": (
        lambda: optim.lamb(0.01, weight_decay=0.1),
        lambda: optax.lamb(0.01, weight_decay=0.1),
    ),
    "lars_without_decay": (
        lambda: optim.lars(0.1, trust_coefficient=0.02, momentum=0.8),
        lambda: optax.lars(0.1, trust_coefficient=0.02, momentum=0.8),
    ),
    "adafactor": (
        lambda: optim.adafactor(0.05, min_dim_size_to_factor=2, momentum=0.9),
        lambda: optax.adafactor(0.05, min_dim_size_to_factor=2, momentum=0.9),
    ),
    "adafactor_decay": (
        lambda: optim.adafactor(0.05, min_dim_size_to_factor=3, weight_decay_rate=0.1),
        lambda: optax.adafactor(0.05, min_dim_size_to_factor=3, weight_decay_rate=0.1),
    ),
    "noisy_sgd": (
        lambda: optim.noisy_sgd(0.1, eta=0.3, key=7),
        lambda: optax.noisy_sgd(0.1, eta=0.3, key=7),
    ),
    "schedule_free_sgd": (
        lambda: optim.schedule_free_sgd(0.1, b1=0.8, weight_decay=0.01),
        lambda: optax.contrib.schedule_free_sgd(0.1, b1=0.8, weight_decay=0.01),
    ),
    "sam": (
        lambda: optim.sam(optim.adam(0.01), rho=0.1),
        lambda: optax.contrib.sam(
            optax.adam(0.01), optax.chain(optax.contrib.normalize(), optax.sgd(0.1))
        ),
    ),
}


def adafactor_tree(make):
    return {"m": make((4, 6)), "cube": make((3, 4, 5)), "v": [make((5,)), make(())], "t": make((3, 2))}


@pytest.mark.parametrize("name", list(OPTAX_SAME))
def test_matches_optax(name):
    ours, theirs = OPTAX_SAME[name]
    tree = adafactor_tree if name.startswith("adafactor") else example_tree
    _, g = params_sequence(STEPS, 8, tree=tree)
    _, p = params_sequence(STEPS, seed=9, tree=tree)
    expected, _ = run_sequence(theirs(), g, p)
    updates, _ = run_sequence(ours(), g, p)
    np.testing.assert_allclose(flat(updates), flat(expected), rtol=2e-4, atol=2e-6)


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


# ----------------------------------------------------------------- layer-wise rules vs NumPy


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
        dict(learning_rate=0.05, min_dim_size_to_factor=2, clipping_threshold=None),
        dict(learning_rate=0.05, min_dim_size_to_factor=2, clipping_threshold=0.5),
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


# ----------------------------------------------------------------- noise


def test_noisy_sgd_adds_the_annealed_noise_of_its_key():
    g64, g = sequence(STEPS, seed=22)
    updates, _ = run_sequence(optim.noisy_sgd(0.1, eta=0.3, gamma=0.55, key=jax.random.key(3)), g)
    # The documented key use: split the state's key each step, one subkey per leaf.
    rng, noise = jax.random.key(3), []
    shapes = [leaf.shape[1:] for leaf in jax.tree.leaves(g)]
    for _ in range(STEPS):
        rng, sample = jax.random.split(rng)
        keys = jax.random.split(sample, len(shapes))
        noise.append(np.concatenate([np.ravel(jax.random.normal(k, s)) for k, s in zip(keys, shapes, strict=True)]))
    expected = ref.noisy_sgd(flat(g64), np.array(noise), 0.1, 0.3, 0.55)
    np.testing.assert_allclose(flat(updates), expected, rtol=1e-5, atol=1e-7)


def test_noise_variance_decays_as_eta_over_t_to_the_gamma():
    grads = {"a": jnp.zeros((8, 4000))}
    updates, _ = run_sequence(optim.add_noise(eta=0.5, gamma=0.55, key=1), grads)
    variance = np.asarray(updates["a"], np.float64).var(axis=1)
    expected = 0.5 / np.arange(1, 9) ** 0.55
    np.testing.assert_allclose(variance, expected, rtol=0.1)


# ----------------------------------------------------------------- schedule-free, closed loop


def quadratic_problem():
    rng = np.random.default_rng(23)
    q = rng.standard_normal((7, 7))
    a = q @ q.T / 7 + 0.2 * np.eye(7)
    b = rng.standard_normal(7)
    return a, b


def unflatten(x, dtype=jnp.float32):
    return {"a": jnp.asarray(x[:6].reshape(3, 2), dtype), "b": [jnp.asarray(x[6], dtype)]}


def flatten(tree):
    return np.concatenate([np.ravel(np.asarray(leaf, np.float64)) for leaf in jax.tree.leaves(tree)])


def closed_loop(tx, x0, steps, dtype=jnp.float32, eval_fn=None):
    a, b = quadratic_problem()
    a_j, b_j = jnp.asarray(a, dtype), jnp.asarray(b, dtype)

    def loss(params):
        x = jnp.concatenate([jnp.ravel(leaf) for leaf in jax.tree.leaves(params)])
        return 0.5 * x @ a_j @ x - b_j @ x

    @jax.jit
    def run(params):
        def step(carry, _):
            params, state = carry
            updates, state = tx.update(jax.grad(loss)(params), state, params)
            params = optim.apply_updates(params, updates)
            seen = eval_fn(state, params) if eval_fn else params
            return (params, state), (params, seen)

        return jax.lax.scan(step, (params, tx.init(params)), None, length=steps)[1]

    trajectory, evaluated = run(unflatten(x0, dtype))
    return rows_of(trajectory, steps), rows_of(evaluated, steps)


def rows_of(tree_sequence, steps):
    """(steps, n): each step's params flattened."""
    leaves = [np.asarray(leaf, np.float64).reshape(steps, -1) for leaf in jax.tree.leaves(tree_sequence)]
    return np.concatenate(leaves, axis=1)


def numpy_grad():
    a, b = quadratic_problem()
    return lambda x: a @ x - b


X0 = np.linspace(-1.0, 1.5, 7)


def quadratic_gap(x):
    a, b = quadratic_problem()
    error = x - np.linalg.solve(a, b)
    return 0.5 * error @ a @ error


def minimize_quadratic(tx, steps):
    rows, _ = closed_loop(tx, X0, steps)
    return quadratic_gap(rows[-1])


@pytest.mark.parametrize(
    "kwargs", [dict(learning_rate=0.3), dict(learning_rate=0.5, warmup_steps=5, weight_decay=0.05, b1=0.8)]
)
def test_schedule_free_sgd_matches_the_paper(kwargs):
    ys, xs = closed_loop(optim.schedule_free_sgd(**kwargs), X0, 40, eval_fn=optim.eval_params)
    y_ref, x_ref = ref.schedule_free_sgd(numpy_grad(), X0, 40, **kwargs)
    np.testing.assert_allclose(ys, y_ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(xs, x_ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "kwargs",
    [dict(learning_rate=0.05), dict(learning_rate=0.1, warmup_steps=8, weight_decay=0.1, b2=0.99, weight_lr_power=1.0)],
)
def test_schedule_free_adamw_matches_the_paper(kwargs, x64):
    ys, xs = closed_loop(
        optim.schedule_free_adamw(**kwargs), X0, 40, jnp.float64, eval_fn=optim.schedule_free_eval_params
    )
    y_ref, x_ref = ref.schedule_free_adamw(numpy_grad(), X0, 40, **kwargs)
    np.testing.assert_allclose(ys, y_ref, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(xs, x_ref, rtol=1e-6, atol=1e-8)


def test_schedule_free_eval_params_converge_without_a_schedule():
    _, xs = closed_loop(optim.schedule_free_sgd(1.0), X0, 300, eval_fn=optim.eval_params)
    assert quadratic_gap(xs[-1]) < 1e-6 * quadratic_gap(X0)


# ----------------------------------------------------------------- SAM


def test_sam_two_calls_and_opaque_mode_match_the_paper():
    a, b = quadratic_problem()
    expected = ref.sam_momentum(numpy_grad(), X0, 20, rho=0.1, learning_rate=0.1, momentum=0.9)
    rows, _ = closed_loop(optim.sam(optim.sgd(0.1, momentum=0.9), rho=0.1), X0, 40)
    np.testing.assert_allclose(rows[1::2], expected, rtol=1e-4, atol=1e-5)

    a_j, b_j = jnp.asarray(a, jnp.float32), jnp.asarray(b, jnp.float32)
    loss = lambda p: 0.5 * flat_j(p) @ a_j @ flat_j(p) - b_j @ flat_j(p)
    tx = optim.sam(optim.sgd(0.1, momentum=0.9), rho=0.1, opaque_mode=True)

    @jax.jit
    def run(params):
        def step(carry, _):
            params, state = carry
            updates, state = tx.update(jax.grad(loss)(params), state, params, grad_fn=jax.grad(loss))
            params = optim.apply_updates(params, updates)
            return (params, state), params

        return jax.lax.scan(step, (params, tx.init(params)), None, length=20)[1]

    trajectory = run(unflatten(X0))
    rows = rows_of(trajectory, 20)
    np.testing.assert_allclose(rows, expected, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="grad_fn"):
        tx.update(unflatten(X0), tx.init(unflatten(X0)), unflatten(X0))


def flat_j(params):
    return jnp.concatenate([jnp.ravel(leaf) for leaf in jax.tree.leaves(params)])


# ----------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: optim.nadam(b1=1.5), r"b1 must be in \[0, 1\), got 1.5"),
        (lambda: optim.nadam(momentum_decay=-1.0), "momentum_decay"),
        (lambda: optim.radam(threshold=3.0), "threshold must be in"),
        (lambda: optim.lion(b2=1.0), "b2 must be in"),
        (lambda: optim.lars(trust_coefficient=-1.0), "trust_coefficient"),
        (lambda: optim.adafactor(min_dim_size_to_factor=0), "min_dim_size_to_factor"),
        (lambda: optim.adafactor(decay_rate=0.0), "decay_rate"),
        (lambda: optim.muon(ns_coeffs=(1.0, 2.0)), "ns_coeffs"),
        (lambda: optim.muon(ns_steps=0), "ns_steps"),
        (lambda: optim.muon(beta=1.0), "beta"),
        (lambda: optim.noisy_sgd(eta=-0.1), "eta"),
        (lambda: optim.schedule_free_sgd(b1=0.0), r"b1 must be in \(0, 1\]"),
        (lambda: optim.schedule_free_adamw(warmup_steps=0), "warmup_steps"),
        (lambda: optim.sam(optim.sgd(), rho=-0.1), "rho"),
    ],
)
def test_hyperparameters_are_validated_when_built(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_layerwise_rules_need_params():
    grads = {"w": jnp.ones((2, 2))}
    for tx in (optim.lamb(), optim.lars(), optim.adafactor()):
        with pytest.raises(ValueError, match="needs the params"):
            tx.update(grads, tx.init(grads))


# ----------------------------------------------------------------- the contract, per alias
# name -> (factory, keyword arguments with small hyperparameters, static_args for inject)

REGISTRY = {
    "nadam": (optim.nadam, dict(learning_rate=0.01), ()),
    "amsgrad": (optim.amsgrad, dict(learning_rate=0.01), ()),
    "adamax": (optim.adamax, dict(learning_rate=0.01), ()),
    "radam": (optim.radam, dict(learning_rate=0.01), ()),
    "adabelief": (optim.adabelief, dict(learning_rate=0.01), ()),
    "lion": (optim.lion, dict(learning_rate=0.001, weight_decay=0.01), ()),
    "lamb": (optim.lamb, dict(learning_rate=0.01, weight_decay=0.01), ()),
    "lars": (optim.lars, dict(learning_rate=0.1, weight_decay=1e-4), ()),
    "adafactor": (optim.adafactor, dict(learning_rate=0.01, min_dim_size_to_factor=2), ("min_dim_size_to_factor",)),
    "noisy_sgd": (optim.noisy_sgd, dict(learning_rate=0.01, key=0), ()),
    "muon": (optim.muon, dict(learning_rate=0.02, adam_learning_rate=0.001), ()),
    "schedule_free_sgd": (optim.schedule_free_sgd, dict(learning_rate=0.1), ()),
    "schedule_free_adamw": (optim.schedule_free_adamw, dict(learning_rate=0.01, warmup_steps=5), ()),
    "sam": (optim.sam, dict(optimizer=optim.sgd(0.1), rho=0.05), ()),
}


def contract_params(dtype):
    return {"w": jnp.full((3, 2), 0.5, dtype), "b": [jnp.zeros((2,), dtype), jnp.asarray(0.3, dtype)]}


def check_jit_no_retrace(tx, params, steps=4):
    """Four jitted steps (an even number: two-call SAM and MultiSteps(k=2) end on a whole step)
    traced once, updates in the params' dtypes, state dtypes stable; returns the losses."""
    chex.clear_trace_counter()
    loss = lambda p: sum(jnp.sum(jnp.square(leaf.astype(jnp.float32) - 1.0)) for leaf in jax.tree.leaves(p))

    @jax.jit
    @chex.assert_max_traces(n=1)
    def step(params, state):
        grads = jax.grad(loss)(params)
        updates, state = tx.update(grads, state, params)
        return optim.apply_updates(params, updates), state, updates

    state = tx.init(params)
    dtypes = jax.tree.map(lambda x: jnp.result_type(x), state)
    losses = [float(loss(params))]
    for _ in range(steps):
        params, state, updates = step(params, state)
        chex.assert_trees_all_equal_dtypes(updates, params)
        assert jax.tree.map(lambda x: jnp.result_type(x), state) == dtypes
        losses.append(float(loss(params)))
    assert all(bool(jnp.all(jnp.isfinite(leaf))) for leaf in jax.tree.leaves(params))
    return np.array(losses)


@pytest.mark.parametrize("name", list(REGISTRY))
def test_alias_contract(name):
    """jit, no retrace on step two, dtypes kept (float32, bfloat16, float64), and the same
    inside chain and partition (next to a frozen group), and MultiSteps of inject_hyperparams."""
    factory, kwargs, static = REGISTRY[name]
    params = contract_params(jnp.float32)
    plain = check_jit_no_retrace(factory(**kwargs), params)
    assert plain[-1] < plain[0]
    for dtype in (jnp.bfloat16, jnp.float64):
        with jax.enable_x64(dtype == jnp.float64):
            losses = check_jit_no_retrace(factory(**kwargs), contract_params(dtype))
            assert losses[-1] < losses[0]
    labels = {"w": "main", "b": ["main", "frozen"]}
    nested = optim.chain(
        optim.clip_by_global_norm(10.0),
        optim.partition({"main": factory(**kwargs), "frozen": optim.set_to_zero()}, labels),
    )
    losses = check_jit_no_retrace(nested, params)
    assert losses[-1] < losses[0]
    # Two micro-batches of the same gradient are one step of the plain optimizer; and the
    # injected optimizer reproduces the plain one.
    injected = optim.inject_hyperparams(factory, static_args=static)(**kwargs)
    losses = check_jit_no_retrace(optim.MultiSteps(injected, 2), params)
    np.testing.assert_allclose(losses[[0, 2, 4]], plain[:3], rtol=1e-6)
