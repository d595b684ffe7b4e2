"""optim.contrib's momo, sophia, galore, muon, normalize, split_real_and_imaginary and the
private aggregation against optax.contrib 0.2.8 (20 jitted steps on a small nested pytree,
float32 and float64); state field names and build-time errors. The papers' rules in NumPy
are in test_contrib_papers.py."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.contrib
import pytest

import optim
import optim.contrib as contrib

STEPS = 20
A = {"w": np.array([[1.0, 2.0, 0.5], [0.3, 1.5, 2.5]]), "b": np.array([0.5, 3.0]),
     "deep": [np.array([[2.0, 1.0], [0.7, 0.2], [1.2, 0.9]])]}


def start(dtype=jnp.float32):
    values = {"w": [[0.5, -1.0, 2.0], [1.5, 0.2, -0.7]], "b": [1.0, -2.0],
              "deep": [[[0.3, -0.4], [1.1, 0.8], [-0.6, 0.9]]]}
    return {"w": jnp.asarray(values["w"], dtype), "b": jnp.asarray(values["b"], dtype),
            "deep": [jnp.asarray(values["deep"][0], dtype)]}


def loss(params):
    """Separable: sum 0.5 a x^2 + 0.1 x^4 + 0.3 x (its Hessian's diagonal is a + 1.2 x^2)."""
    terms = jax.tree.map(lambda a, x: jnp.sum(0.5 * a * x**2 + 0.1 * x**4 + 0.3 * x), A, params)
    return sum(jax.tree.leaves(terms))


def np_grad(x):
    return {k: jax.tree.map(lambda a, v: a * v + 0.4 * v**3 + 0.3, A[k], x[k]) for k in x}


def trajectory(tx, params, steps=STEPS, extra=lambda value: {}):
    """The params after each of `steps` steps, in one jitted scan."""

    def step(carry, _):
        p, state = carry
        value, grads = jax.value_and_grad(loss)(p)
        updates, state = tx.update(grads, state, p, **extra(value))
        p = optax.apply_updates(p, updates)
        return (p, state), p

    return jax.jit(lambda p: jax.lax.scan(step, (p, tx.init(p)), None, steps)[1])(params)


def with_value(value):
    return {"value": value}


def with_objective(value):
    return {"obj_fn": loss}


CASES = {
    "momo": (lambda m: m.momo(0.5, beta=0.8, weight_decay=0.01), with_value),
    "momo_adapt": (lambda m: m.momo(1.0, lower_bound=-5.0, adapt_lower_bound=True), with_value),
    "momo_adam": (lambda m: m.momo_adam(0.1, weight_decay=0.05, adapt_lower_bound=True),
                  with_value),
    "sophia": (lambda m: m.sophia(0.05, gamma=0.05, update_interval=3), with_objective),
    "galore": (lambda m: m.galore(0.05, rank=1, update_proj_gap=5, weight_decay=0.1),
               lambda v: {}),
    "galore_dims": (lambda m: m.galore(0.05, rank=1, weight_dimension_numbers={
        "w": m.GaLoreDimensionNumbers(1, 0), "b": None, "deep": [None]}), lambda v: {}),
    "muon": (lambda m: m.muon(0.02, weight_decay=0.1, consistent_rms=0.2), lambda v: {}),
    "muon_aol_dion": (lambda m: m.muon(0.02, ns_coeffs="dion", preconditioning="aol",
                                        adaptive=True, nesterov=False), lambda v: {}),
    "muon_schatten": (lambda m: m.muon(0.02, preconditioning="schatten"), lambda v: {}),
    "muon_spectral": (lambda m: m.muon(0.02, preconditioning="spectral"), lambda v: {}),
    "normalize": (lambda m: m_chain(m, m.normalize(), (optim if m is contrib else optax).sgd(
        0.05)), lambda v: {}),
    "split_adam": (lambda m: m.split_real_and_imaginary(
        (optim if m is contrib else optax).adam(0.05)), lambda v: {}),
}


def m_chain(m, *txs):
    return (optim if m is contrib else optax).chain(*txs)


def muon_dims_case(m, x):
    """Muon with dimension numbers on a rank-3 leaf (its last two axes the matrix)."""
    dims = {"w": m.MuonDimensionNumbers(0, 1), "b": None, "deep": [
        m.MuonDimensionNumbers(1, 2)]}
    return m.muon(0.02, muon_weight_dimension_numbers=dims)


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_optax_contrib_float32(name):
    build, extra = CASES[name]
    ours = trajectory(build(contrib), start(), extra=extra)
    theirs = trajectory(build(optax.contrib), start(), extra=extra)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5), ours,
                 theirs)


@pytest.mark.parametrize("name", ["momo_adam", "sophia", "galore", "muon_aol_dion"])
def test_matches_optax_contrib_float64(name, x64):
    build, extra = CASES[name]
    ours = trajectory(build(contrib), start(jnp.float64), extra=extra)
    theirs = trajectory(build(optax.contrib), start(jnp.float64), extra=extra)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12), ours,
                 theirs)


def test_muon_dimension_numbers_reshape_a_rank_3_leaf():
    params = {"w": jnp.asarray(np.linspace(-1, 1, 6).reshape(2, 3), jnp.float32),
              "b": jnp.ones(3), "deep": [jnp.asarray(np.cos(np.arange(24.0)).reshape(2, 3, 4),
                                                     jnp.float32)]}

    def run(m):
        tx = muon_dims_case(m, params)
        grads = jax.tree.map(lambda p: jnp.sin(3 * p) + 0.1, params)
        state = tx.init(params)
        out = []
        for _ in range(3):
            updates, state = jax.jit(tx.update)(grads, state, params)
            out.append(updates)
        return out

    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-4, atol=1e-6),
                 run(contrib), run(optax.contrib))
    # Each (3, 4) slice of the rank-3 leaf is orthogonalized on its own: its rows orthonormal
    # up to Newton-Schulz's spread of singular values (about [0.7, 1.2]).
    last = run(contrib)[-1]["deep"][0]
    singular = np.linalg.svd(np.asarray(last[0]), compute_uv=False)
    assert np.all(singular > 0.005) and np.all(singular < 0.03), singular  # times lr 0.02


def test_optim_muon_is_unchanged_by_the_contrib_version():
    params = start()
    grads = jax.grad(loss)(params)
    tx = optim.muon(0.02)
    updates, _ = tx.update(grads, tx.init(params), params)
    mu = jax.tree.map(lambda g: 0.05 * g, grads)  # no bias correction in optim.muon
    nesterov = 0.95 * mu["w"] + 0.05 * grads["w"]
    expected = optim.orthogonalize_via_newton_schulz(nesterov) * -0.02 * np.sqrt(1.5)
    np.testing.assert_allclose(updates["w"], expected, rtol=1e-5, atol=1e-7)


def test_private_aggregation_matches_optax_and_clips_each_example():
    params = start()
    keys = np.linspace(0.5, 3.0, 4)
    per_example = jax.tree.map(lambda p: jnp.stack([k * (p + 1.0) for k in keys]), params)

    def run(tx):
        state = tx.init(params)
        out = []
        for _ in range(3):
            updates, state = jax.jit(tx.update)(per_example, state, params)
            out.append(updates)
        return out

    ours = run(contrib.differentially_private_aggregate(1.0, 0.5, key=jax.random.key(3)))
    theirs = run(optax.contrib.differentially_private_aggregate(1.0, 0.5, key=jax.random.key(3)))
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), ours,
                 theirs)
    # Without noise: the mean of the examples, each scaled to global norm at most 1.
    quiet = run(contrib.differentially_private_aggregate(1.0, 0.0, key=0))[0]
    norms = np.sqrt(sum(np.sum(np.asarray(g).reshape(4, -1) ** 2, axis=1)
                        for g in jax.tree.leaves(per_example)))
    factors = np.minimum(1.0, 1.0 / norms)
    expected = jax.tree.map(lambda g: np.tensordot(factors, np.asarray(g), 1) / 4, per_example)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5), quiet, expected)


@pytest.mark.filterwarnings("ignore:.*seed.*:DeprecationWarning")
def test_dpsgd_matches_optax():
    params = start()
    per_example = jax.tree.map(lambda p: jnp.stack([p, -2 * p, p + 3]), params)

    def run(tx):
        state, out = tx.init(params), []
        for _ in range(3):
            updates, state = jax.jit(tx.update)(per_example, state, params)
            out.append(updates)
        return out

    ours = run(contrib.dpsgd(0.1, 1.5, 0.3, seed=5, momentum=0.9, nesterov=True))
    theirs = run(optax.contrib.dpsgd(0.1, 1.5, 0.3, seed=5, momentum=0.9, nesterov=True))
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7), ours,
                 theirs)


def test_split_real_and_imaginary_is_the_inner_optimizer_on_the_pair():
    z = {"z": jnp.array([1 + 2j, -0.5 + 0.1j], jnp.complex64), "r": jnp.array([0.3, -1.0])}
    grads = {"z": jnp.array([0.2 - 1j, 3 + 0.5j], jnp.complex64), "r": jnp.array([1.0, 2.0])}
    pair = {"z": (z["z"].real, z["z"].imag), "r": z["r"]}
    pair_grads = {"z": (grads["z"].real, grads["z"].imag), "r": grads["r"]}
    split, inner, theirs = (contrib.split_real_and_imaginary(optim.adam(0.1)), optim.adam(0.1),
                            optax.contrib.split_real_and_imaginary(optax.adam(0.1)))
    s, i, o = split.init(z), inner.init(pair), theirs.init(z)
    for scale in [1.0, -2.0, 0.5]:
        g = jax.tree.map(lambda x, scale=scale: scale * x, grads)
        u, s = jax.jit(split.update)(g, s, z)
        v, i = jax.jit(inner.update)(jax.tree.map(lambda x, scale=scale: scale * x, pair_grads),
                                     i, pair)
        w, o = theirs.update(g, o, z)
        assert u["z"].dtype == jnp.complex64
        np.testing.assert_allclose(u["z"], v["z"][0] + 1j * v["z"][1], rtol=1e-6)
        np.testing.assert_allclose(u["r"], v["r"], rtol=1e-6)
        np.testing.assert_allclose(u["z"], w["z"], rtol=2e-5)  # optax rounds 1 - b2 later


def test_normalize_gives_a_unit_step_and_zero_for_a_zero_gradient():
    grads = {"a": jnp.array([3.0, 0.0]), "b": jnp.array([[4.0]])}
    tx = contrib.normalize()
    out, _ = tx.update(grads, tx.init(grads))
    np.testing.assert_allclose(out["a"], [0.6, 0.0])
    np.testing.assert_allclose(out["b"], [[0.8]])
    zero, _ = tx.update(jax.tree.map(jnp.zeros_like, grads), tx.init(grads))
    assert all(np.all(np.asarray(z) == 0) for z in jax.tree.leaves(zero))


# ---------------------------------------------------------------- names and errors


STATES = ["MomoState", "MomoAdamState", "SophiaState", "HutchinsonState", "GaLoreState",
          "MuonState", "SplitRealAndImaginaryState", "DifferentiallyPrivateAggregateState",
          "GaLoreDimensionNumbers", "MuonDimensionNumbers"]


@pytest.mark.parametrize("name", STATES)
def test_state_fields_are_optax_s(name):
    assert getattr(contrib, name)._fields == getattr(optax.contrib, name)._fields


def test_names_are_optax_contrib_s():
    mine = ["momo", "momo_adam", "sophia", "hutchinson_estimator_diag_hessian", "galore",
            "scale_by_galore", "muon", "scale_by_muon", "normalize", "NormalizeState",
            "split_real_and_imaginary", "differentially_private_aggregate", "dpsgd", *STATES]
    for name in mine:
        assert name in contrib.__all__ and hasattr(optax.contrib, name), name


@pytest.mark.parametrize("build, message", [
    (lambda: contrib.momo(learning_rate=0.0), "learning_rate must be in"),
    (lambda: contrib.momo(beta=1.0), r"beta must be in \[0, 1\), got 1.0"),
    (lambda: contrib.momo(weight_decay=-1.0), "weight_decay must be in"),
    (lambda: contrib.momo(adapt_lower_bound=1), "adapt_lower_bound must be True or False"),
    (lambda: contrib.momo_adam(b2=1.5), "b2 must be in"),
    (lambda: contrib.sophia(0.1, gamma=0.0), "gamma must be in"),
    (lambda: contrib.sophia(0.1, update_interval=0), "update_interval must be a positive"),
    (lambda: contrib.sophia(0.1, clip_threshold=-1.0), "clip_threshold must be in"),
    (lambda: contrib.galore(0.1, rank=0), "rank must be a positive integer, got 0"),
    (lambda: contrib.galore(0.1, update_proj_gap=1.5), "update_proj_gap must be"),
    (lambda: contrib.muon(0.1, preconditioning="svd"), "preconditioning must be one of"),
    (lambda: contrib.muon(0.1, ns_coeffs="fast"), "ns_coeffs must be one of"),
    (lambda: contrib.muon(0.1, ns_coeffs=(1.0, 2.0)), "ns_coeffs must be three"),
    (lambda: contrib.muon(0.1, ns_coeffs="dion", ns_steps=3), "more than ns_steps=3"),
    (lambda: contrib.muon(0.1, beta=1.0), "beta must be in"),
    (lambda: contrib.muon(0.1, adam_b1=2.0), "adam_b1 must be in"),
    (lambda: contrib.muon(0.1, consistent_rms=0.0), "consistent_rms must be in"),
    (lambda: contrib.differentially_private_aggregate(0.0, 1.0, 0), "l2_norm_clip must be in"),
    (lambda: contrib.differentially_private_aggregate(1.0, -1.0, 0), "noise_multiplier must"),
    (lambda: contrib.differentially_private_aggregate(1.0, 1.0), "needs a key"),
    (lambda: contrib.differentially_private_aggregate(1.0, 1.0, "k"), "key must be an integer"),
    (lambda: contrib.dpsgd(0.1, 1.0, 1.0, seed=0, momentum=1.5), "must be in"),
])
def test_bad_hyperparameters_raise_when_built(build, message):
    with pytest.raises((ValueError, TypeError), match=message):
        build()


def test_missing_extras_and_bad_shapes_raise_at_update():
    params = start()
    grads = jax.grad(loss)(params)
    tx = contrib.momo()
    with pytest.raises(TypeError, match="momo needs the loss"):
        tx.update(grads, tx.init(params), params)
    tx = contrib.sophia(0.1)
    with pytest.raises(TypeError, match="needs the objective"):
        tx.update(grads, tx.init(params), params)
    tx = contrib.scale_by_muon()
    with pytest.raises(ValueError, match="rank >= 2"):
        tx.init({"v": jnp.ones(3)})
    per_example = jax.tree.map(lambda p: jnp.stack([p, p]), params)
    per_example["b"] = jnp.ones((3, 2))
    tx = contrib.differentially_private_aggregate(1.0, 1.0, 0)
    with pytest.raises(ValueError, match="per-example gradients"):
        tx.update(per_example, tx.init(params))
