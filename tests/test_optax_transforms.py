"""optax's small transforms, wrappers, optimizers and utilities under their optax names: each
against optax 0.2.8 over 20 jitted steps on a nested pytree (float32, and float64 under x64),
the formulas against plain-NumPy float64, then the build-time and state checks."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from optax_compare import STEPS, assert_close, compare, grads_at, start

import optim

# With moving averages: this library makes a decay an array before any arithmetic (value_at),
# so `1 - 0.999` is rounded in float32, where optax computes it in Python: up to ~5e-5 apart
# in float32; in float64 within rtol 1e-6 (test_same_as_optax_float64 runs every one).
MOVING_AVERAGES = {
    "signum", "selective_transform", "scale_by_yogi", "scale_by_yogi_args", "yogi", "nadamw",
    "adamaxw", "adamaxw_mask", "scale_by_stddev", "scale_by_stddev_args", "chain_of_them",
}


MASK = {"w": True, "rest": [False, (True,)]}
# This library's add_decayed_weights counts steps (its rate may be a schedule); optax's keeps
# an empty state: the weight-decay aliases compare the state of their scaling only.
SCALING_STATE = {"state": lambda s: s[0]}

CASES = {
    "zero_nans": (lambda m: m.zero_nans(), {"nans": True}),
    "keep_params_nonnegative": (lambda m: m.keep_params_nonnegative(), {"scale_grads": 0.3}),
    "centralize": (lambda m: m.centralize(), {}),
    "scale_by_sign": (lambda m: m.scale_by_sign(), {}),
    "sign_sgd": (lambda m: m.sign_sgd(0.1), {}),
    "signum": (lambda m: m.signum(0.1, beta=0.8), {}),
    "apply_every": (lambda m: m.apply_every(k=3), {}),
    "freeze": (lambda m: m.freeze(MASK), {}),
    "freeze_all": (lambda m: m.freeze(True), {}),
    "selective_transform": (lambda m: m.selective_transform(m.adam(0.01), freeze_mask=MASK), {}),
    "stateless_with_tree_map": (
        lambda m: m.stateless_with_tree_map(lambda u, p: u * jnp.abs(p) - 0.5 * p), {}),
    "scale_by_yogi": (lambda m: m.scale_by_yogi(), {}),
    "scale_by_yogi_args": (lambda m: m.scale_by_yogi(0.8, 0.99, 1e-2, 1e-4, 0.5), {}),
    "yogi": (lambda m: m.yogi(0.01), {}),
    "nadamw": (lambda m: m.nadamw(0.01, weight_decay=0.1), SCALING_STATE),
    "adamaxw": (lambda m: m.adamaxw(0.01, weight_decay=0.1), SCALING_STATE),
    "adamaxw_mask": (lambda m: m.adamaxw(0.01, weight_decay=0.1, mask=MASK), SCALING_STATE),
    "scale_by_stddev": (lambda m: m.scale_by_stddev(), {}),
    "scale_by_stddev_args": (lambda m: m.scale_by_stddev(0.5, 1e-4, 0.1, eps_in_sqrt=False), {}),
    "chain_of_them": (lambda m: m.chain(m.zero_nans(), m.centralize(), m.apply_every(2),
                                        m.scale_by_yogi(), m.keep_params_nonnegative()),
                      {"nans": True}),
}


@pytest.mark.parametrize("name", CASES)
def test_same_as_optax_float32(name):
    make, kwargs = CASES[name]
    rtol = 1e-4 if name in MOVING_AVERAGES else 1e-6
    compare(make(optim), make(optax), jnp.float32, rtol, **kwargs)


@pytest.mark.parametrize("name", sorted(MOVING_AVERAGES | {"zero_nans", "apply_every"}))
def test_same_as_optax_float64(name, x64):
    make, kwargs = CASES[name]
    compare(make(optim), make(optax), jnp.float64, **kwargs)


def test_field_names_as_optax():
    params = start(jnp.float32)
    assert optim.zero_nans().init(params).found_nan["w"].dtype == jnp.bool_
    assert optim.apply_every(2).init(params).count.dtype == jnp.int32
    assert type(optim.scale_by_yogi().init(params)) is optim.ScaleByAdamState
    assert optim.ScaleByRStdDevState._fields == optax.ScaleByRStdDevState._fields
    assert optim.ApplyEvery._fields == optax.ApplyEvery._fields
    assert optim.ZeroNansState._fields == optax.ZeroNansState._fields
    assert optim.states.NonNegativeParamsState is optim.NonNegativeParamsState
    assert optim.scale_by_sign is optim.sign


# -- plain-NumPy transcriptions of the formulas, in float64 --------------------------------


def numpy_grads(t):
    return [np.asarray(x, np.float64) for x in jax.tree.leaves(grads_at(t, jnp.float64))]


def ours_in_float64(tx, params=None):
    params = start(jnp.float64) if params is None else params
    state = tx.init(params)
    step = jax.jit(tx.update)
    for t in range(STEPS):
        updates, state = step(grads_at(t, jnp.float64), state, params)
        yield t, [np.asarray(u) for u in jax.tree.leaves(updates)], state


def test_yogi_formula(x64):
    b1, b2, eps, eps_root, v0 = 0.9, 0.99, 1e-3, 1e-5, 1e-2
    m = [np.full(np.shape(g), v0) for g in numpy_grads(0)]
    v = [np.full(np.shape(g), v0) for g in numpy_grads(0)]
    tx = optim.scale_by_yogi(b1, b2, eps, eps_root, v0)
    for t, updates, _ in ours_in_float64(tx):
        for i, g in enumerate(numpy_grads(t)):
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = v[i] - (1 - b2) * np.sign(v[i] - g**2) * g**2
            m_hat, v_hat = m[i] / (1 - b1 ** (t + 1)), v[i] / (1 - b2 ** (t + 1))
            np.testing.assert_allclose(updates[i], m_hat / (np.sqrt(v_hat + eps_root) + eps),
                                       rtol=1e-12)


@pytest.mark.parametrize("eps_in_sqrt, debias", [(True, False), (False, True)])
def test_stddev_formula(x64, eps_in_sqrt, debias):
    decay, eps, nu0 = 0.8, 0.1, 0.2
    mu = [np.zeros(np.shape(g)) for g in numpy_grads(0)]
    nu = [np.full(np.shape(g), nu0) for g in numpy_grads(0)]
    tx = optim.scale_by_stddev(decay, eps, nu0, eps_in_sqrt=eps_in_sqrt, bias_correction=debias)
    for t, updates, state in ours_in_float64(tx):
        assert isinstance(state, optim.ScaleByRStdDevWithCountState if debias
                          else optim.ScaleByRStdDevState)
        for i, g in enumerate(numpy_grads(t)):
            mu[i] = decay * mu[i] + (1 - decay) * g
            nu[i] = decay * nu[i] + (1 - decay) * g**2
            m, n = mu[i], nu[i]
            if debias:
                m, n = m / (1 - decay ** (t + 1)), n / (1 - decay ** (t + 1))
            s = np.maximum(n - m**2, 0)
            want = g / np.sqrt(s + eps) if eps_in_sqrt else g / (np.sqrt(s) + eps)
            np.testing.assert_allclose(updates[i], want, rtol=1e-6, atol=1e-12)


def test_centralize_formula(x64):
    for t, updates, _ in ours_in_float64(optim.centralize()):
        for u, g in zip(updates, numpy_grads(t), strict=True):
            want = g - g.mean(axis=1, keepdims=True) if g.ndim == 2 else g
            np.testing.assert_allclose(u, want, rtol=1e-12, atol=1e-15)


def test_signum_and_sign_sgd_formulas(x64):
    beta, lr = 0.7, 0.1
    m = [np.zeros(np.shape(g)) for g in numpy_grads(0)]
    signum = list(ours_in_float64(optim.signum(lr, beta)))
    sign_sgd = list(ours_in_float64(optim.sign_sgd(lr)))
    for (t, updates, _), (_, plain, _) in zip(signum, sign_sgd, strict=True):
        for i, g in enumerate(numpy_grads(t)):
            m[i] = beta * m[i] + (1 - beta) * g
            np.testing.assert_array_equal(updates[i], -lr * np.sign(m[i]))
            np.testing.assert_array_equal(plain[i], -lr * np.sign(g))


def test_apply_every_formula(x64):
    k = 3
    acc = [np.zeros(np.shape(g)) for g in numpy_grads(0)]
    for t, updates, state in ours_in_float64(optim.apply_every(k)):
        for i, g in enumerate(numpy_grads(t)):
            acc[i] = g if t % k == 0 else acc[i] + g
            want = acc[i] if t % k == k - 1 else np.zeros_like(g)
            np.testing.assert_allclose(updates[i], want, rtol=1e-12)
        assert int(state.count) == (t + 1) % k


def test_keep_params_nonnegative_formula(x64):
    params = start(jnp.float64)
    for t, updates, _ in ours_in_float64(optim.keep_params_nonnegative(), params):
        for u, g, p in zip(updates, numpy_grads(t), jax.tree.leaves(params), strict=True):
            p = np.asarray(p)
            np.testing.assert_array_equal(u, np.where(p + g < 0, -p, g))
            assert np.all(p + u >= 0)


def test_zero_nans_reports_each_leaf():
    tx = optim.zero_nans()
    params = start(jnp.float32)
    g = grads_at(0, jnp.float32, nans=True)
    g["rest"][1] = (jnp.asarray(jnp.inf),)
    updates, state = jax.jit(tx.update)(g, tx.init(params))
    assert state.found_nan == {"w": True, "rest": [True, (False,)]}
    assert not np.any(np.isnan(np.asarray(updates["w"])))
    assert updates["rest"][1][0] == jnp.inf


def test_freeze_and_selective_transform_hold_no_state_for_frozen_leaves():
    params = start(jnp.float32)
    tx = optim.selective_transform(optim.adam(0.1), freeze_mask=MASK)
    state = tx.init(params)
    assert len(jax.tree.leaves(optim.get_field(state, "mu"))) == 1
    updates, _ = tx.update(grads_at(0, jnp.float32), state, params)
    assert np.all(np.asarray(updates["w"]) == 0) and updates["rest"][1][0] == 0
    assert np.all(np.asarray(updates["rest"][0]) != 0)
    frozen, _ = optim.freeze(lambda p: jax.tree.map(lambda x: x.ndim == 2, p)).update(
        grads_at(0, jnp.float32), optim.freeze(MASK).init(params), params)
    assert np.all(np.asarray(frozen["w"]) == 0)


# -- the utilities, against optax ------------------------------------------------------------


@pytest.mark.parametrize("kwargs", [{}, {"ord": 1}, {"axis": 1}, {"axis": 0, "keepdims": True},
                                    {"ord": np.inf, "axis": 1}])
def test_safe_norm(kwargs):
    x = jnp.asarray(np.random.default_rng(0).normal(size=(3, 4)), jnp.float32).at[1].set(0.0)
    for min_norm in (0.0, 0.5, 1e3):
        assert_close(optim.safe_norm(x, min_norm, **kwargs), optax.safe_norm(x, min_norm, **kwargs))
        grad = jax.grad(lambda y, n=min_norm: jnp.sum(optim.safe_norm(y, n, **kwargs)))(x)
        want = jax.grad(lambda y, n=min_norm: jnp.sum(optax.safe_norm(y, n, **kwargs)))(x)
        assert np.all(np.isfinite(np.asarray(grad)))
        assert_close(grad, want)


def test_safe_root_mean_squares():
    for x in (jnp.zeros(4), jnp.arange(6.0).reshape(2, 3)):
        for min_rms in (0.0, 0.1, 10.0):
            assert_close(optim.safe_root_mean_squares(x, min_rms),
                         optax.safe_root_mean_squares(x, min_rms))
            grad = jax.grad(lambda y, r=min_rms: optim.safe_root_mean_squares(y, r))(x)
            want = jax.grad(lambda y, r=min_rms: optax.safe_root_mean_squares(y, r))(x)
            assert_close(grad, want)


def test_safe_increment():
    for value in (jnp.asarray(1, jnp.int32), jnp.asarray(2**31 - 1, jnp.int32),
                  jnp.asarray(255, jnp.uint8), jnp.asarray(np.finfo(np.float32).max),
                  jnp.asarray(2.5)):
        for ours in (optim.safe_increment, optim.safe_int32_increment):
            got, want = jax.jit(ours)(value), optax.safe_increment(value)
            assert got.dtype == want.dtype and got == want
    with pytest.raises(ValueError, match="bool"):
        optim.safe_increment(jnp.asarray(True))


def test_global_norm():
    g = grads_at(0, jnp.float32)
    with pytest.warns(DeprecationWarning):
        want = optax.global_norm(g)
    assert_close(optim.global_norm(g), want)
    assert_close(optim.global_norm(g), optim.tree_global_norm(g))


def test_scale_gradient():
    x = start(jnp.float32)
    for scale in (0.5, -1.0, 0.0, 1.0, 3):
        def loss(p, lib, scale=scale):
            return sum(jnp.sum(leaf**3) for leaf in jax.tree.leaves(lib.scale_gradient(p, scale)))

        assert_close(jax.grad(loss)(x, optim), jax.grad(loss)(x, optax))
        assert_close(optim.scale_gradient(x, scale), x)
    traced = jax.jit(jax.grad(lambda p, s: jnp.sum(optim.scale_gradient(p, s)["w"])))
    np.testing.assert_allclose(traced(x, jnp.float32(-2.0))["w"], -2.0)
    with pytest.raises(TypeError, match="scale"):
        optim.scale_gradient(x, "2")
    with pytest.raises(ValueError, match="scale"):
        optim.scale_gradient(x, float("nan"))


def test_incremental_and_periodic_update():
    new, old = start(jnp.float32), grads_at(1, jnp.float32)
    for step_size in (0.0, 0.01, 0.5, 1.0):
        assert_close(jax.jit(optim.incremental_update)(new, old, step_size),
                     optax.incremental_update(new, old, step_size))
    with_none = {"a": None, "b": jnp.ones(2)}
    assert optim.incremental_update(with_none, {"a": None, "b": jnp.zeros(2)}, 0.5)["a"] is None
    update = jax.jit(optim.periodic_update, static_argnums=3)
    for step in range(5):
        assert_close(update(new, old, jnp.asarray(step), 2),
                     optax.periodic_update(new, old, jnp.asarray(step), 2))


def test_skip_rules_as_optax():
    finite, bad = grads_at(0, jnp.float32), grads_at(0, jnp.float32, nans=True)
    for g in (finite, bad):
        assert_close(jax.jit(optim.skip_not_finite)(g, 0, None), optax.skip_not_finite(g, 0, None))
        for limit in (1.0, 1e4, jnp.inf):
            ours = jax.jit(functools.partial(optim.skip_large_updates, max_squared_norm=limit))
            assert_close(ours(g, 0, None), optax.skip_large_updates(g, 0, None, limit))


def test_stateless_helpers():
    assert optim.init_empty_state({"a": jnp.ones(2)}) == optim.EmptyState()
    tx = optim.stateless_with_tree_map(lambda u, p: 2 * u if p is None else u + p)
    assert_close(tx.update({"a": jnp.ones(2)}, tx.init(None))[0], {"a": 2 * jnp.ones(2)})
    assert_close(tx.update({"a": jnp.ones(2)}, tx.init(None), {"a": jnp.ones(2)})[0],
                 {"a": 2 * jnp.ones(2)})
    with pytest.raises(TypeError, match="f must be a callable"):
        optim.stateless_with_tree_map(3)


# -- build-time checks and state checks ------------------------------------------------------


BAD = [
    (lambda: optim.apply_every(k=0), ValueError, "k must be a positive integer, got 0"),
    (lambda: optim.signum(0.1, beta=1.5), ValueError, r"beta must be in \[0, 1\), got 1.5"),
    (lambda: optim.signum(-0.1), ValueError, "learning_rate"),
    (lambda: optim.scale_by_yogi(b1=1.0), ValueError, r"b1 must be in \[0, 1\), got 1.0"),
    (lambda: optim.scale_by_yogi(eps=-1), ValueError, "eps must be"),
    (lambda: optim.scale_by_yogi(initial_accumulator_value=-1), ValueError,
     "initial_accumulator_value"),
    (lambda: optim.yogi(0.01, b2=2.0), ValueError, "b2 must be"),
    (lambda: optim.nadamw(0.01, weight_decay=-1.0), ValueError, "weight_decay"),
    (lambda: optim.adamaxw(0.01, b1=-0.5), ValueError, "b1 must be"),
    (lambda: optim.adamaxw(0.01, weight_decay=-1.0), ValueError, "weight_decay"),
    (lambda: optim.scale_by_stddev(decay=2.0), ValueError, r"decay must be in \[0, 1\)"),
    (lambda: optim.scale_by_stddev(decay=lambda t: 0.9), TypeError, "decay must be a number"),
    (lambda: optim.scale_by_stddev(eps=-1e-8), ValueError, "eps must be"),
    (lambda: optim.scale_by_stddev(initial_scale=-1.0), ValueError, "initial_scale"),
    (lambda: optim.scale_by_stddev(eps_in_sqrt=1), TypeError, "eps_in_sqrt must be True or False"),
    (lambda: optim.freeze("yes"), TypeError, "mask"),
    (lambda: optim.selective_transform(3, freeze_mask=True), TypeError, "optimizer"),
    (lambda: optim.selective_transform(optim.sgd(0.1), freeze_mask="no"), TypeError,
     "freeze_mask"),
    (lambda: optim.incremental_update({"a": 1.0}, {"a": 0.0}, 1.5), ValueError, "step_size"),
    (lambda: optim.periodic_update({"a": 1.0}, {"a": 0.0}, 3, 0), ValueError, "update_period"),
    (lambda: optim.skip_large_updates({"a": 1.0}, 0, None, -1.0), ValueError, "max_squared_norm"),
]


@pytest.mark.parametrize("build, error, message", BAD, ids=[m for _, _, m in BAD])
def test_bad_hyperparameters_name_the_argument(build, error, message):
    with pytest.raises(error, match=message):
        build()


STATEFUL = {
    "zero_nans": optim.zero_nans,
    "keep_params_nonnegative": optim.keep_params_nonnegative,
    "apply_every": lambda: optim.apply_every(2),
    "scale_by_yogi": optim.scale_by_yogi,
    "scale_by_stddev": optim.scale_by_stddev,
    "scale_by_stddev_debiased": lambda: optim.scale_by_stddev(bias_correction=True),
}


@pytest.mark.parametrize("name", STATEFUL)
def test_a_mismatched_state_is_a_type_error(name):
    tx, params = STATEFUL[name](), start(jnp.float32)
    other = optim.scale_by_rms().init(params)
    with pytest.raises(TypeError, match=f"{name.removesuffix('_debiased')}'s update got a state"):
        tx.update(grads_at(0, jnp.float32), other, params)


def test_keep_params_nonnegative_needs_the_params():
    tx = optim.keep_params_nonnegative()
    with pytest.raises(optim.ParamsRequiredError, match="keep_params_nonnegative"):
        tx.update(grads_at(0, jnp.float32), tx.init(start(jnp.float32)))
