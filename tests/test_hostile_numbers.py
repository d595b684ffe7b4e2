"""Hostile numbers: huge finite gradients, float16 params, integer and complex gradients, and
`apply_if_finite`'s rules. Nothing may turn silently wrong."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optim

# Every first-order optimizer, at its defaults (learning rates small enough for one step).
ALIASES = {
    "sgd": lambda: optim.sgd(0.01),
    "momentum": lambda: optim.sgd(0.01, momentum=0.9),
    "adagrad": optim.adagrad,
    "rmsprop": optim.rmsprop,
    "rmsprop_centered": lambda: optim.rmsprop(centered=True, bias_correction=True),
    "adadelta": optim.adadelta,
    "adam": optim.adam,
    "adamw": optim.adamw,
    "nadam": optim.nadam,
    "amsgrad": optim.amsgrad,
    "adamax": optim.adamax,
    "radam": optim.radam,
    "adabelief": optim.adabelief,
    "lion": optim.lion,
    "lamb": optim.lamb,
    "lars": optim.lars,
    "adafactor": lambda: optim.adafactor(min_dim_size_to_factor=2),
    "muon": optim.muon,
    "rprop": optim.rprop,
    "adaptive_gains": optim.adaptive_gains,
    "noisy_sgd": optim.noisy_sgd,
    "schedule_free_sgd": lambda: optim.schedule_free_sgd(0.1),
    "schedule_free_adamw": optim.schedule_free_adamw,
}


def params_tree(dtype=jnp.float32):
    return {"w": jnp.ones((3, 4), dtype), "b": jnp.full((4,), 0.5, dtype)}


def finite_leaves(tree):
    return [bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(tree)
            if jnp.issubdtype(jnp.result_type(x), jnp.inexact)]


def run(tx, params, grads_seq):
    state = tx.init(params)
    step = jax.jit(lambda g, s, p: tx.update(g, s, p))
    out = []
    for grads in grads_seq:
        updates, state = step(grads, state, params)
        out.append((updates, state))
    return out


@pytest.mark.parametrize("name", list(ALIASES))
def test_a_huge_finite_gradient_leaves_the_state_finite_and_training_goes_on(name):
    params = params_tree()
    huge = jax.tree.map(lambda p: jnp.full_like(p, 1e20).at[..., 0].set(-3e20), params)
    normal = jax.tree.map(lambda p: jnp.full_like(p, 0.1), params)
    results = run(ALIASES[name](), params, [huge, normal, normal, normal])
    for i, (updates, state) in enumerate(results):
        assert all(finite_leaves(state)), (name, i, "state")
        assert all(finite_leaves(updates)), (name, i, "updates")
    moved = [float(jnp.max(jnp.abs(x))) for x in jax.tree.leaves(results[-1][0])]
    assert max(moved) > 0, f"{name}: the updates stayed 0 after the huge gradient"


def test_global_norm_and_clipping_of_huge_gradients_against_numpy():
    g = {"a": jnp.array([1e20, -2e20, 3e19], jnp.float32), "b": jnp.array([[3e20]])}
    exact = np.sqrt(sum(np.sum(np.asarray(x, np.float64) ** 2) for x in jax.tree.leaves(g)))
    assert float(optim.tree_global_norm(g)) == pytest.approx(exact, rel=1e-6)
    assert float(jax.jit(optim.tree_global_norm)(g)) == pytest.approx(exact, rel=1e-6)
    clipped, _ = optim.clip_by_global_norm(1.0).update(g, optim.EmptyState())
    for x, y in zip(jax.tree.leaves(clipped), jax.tree.leaves(g), strict=True):
        np.testing.assert_allclose(np.asarray(x, np.float64), np.asarray(y, np.float64) / exact,
                                   rtol=1e-6)
    assert float(optim.tree_global_norm({"a": jnp.array([1.0, jnp.inf])})) == np.inf
    assert np.isnan(float(optim.tree_global_norm({"a": jnp.array([1.0, jnp.nan])})))
    assert float(optim.tree_global_norm({})) == 0.0
    ordinary = {"a": jnp.array([3.0, 4.0])}
    assert float(optim.tree_global_norm(ordinary)) == 5.0


def test_saturation_changes_no_bit_of_ordinary_moments():
    g = {"a": jnp.linspace(-3, 3, 7, dtype=jnp.float32)}
    m = {"a": jnp.linspace(0, 1, 7, dtype=jnp.float32)}
    second = optim.tree.update_moment(g, m, 0.999, 2)["a"]
    plain = 0.999 * m["a"] + (1 - jnp.float32(0.999)) * g["a"] * g["a"]
    np.testing.assert_array_equal(second, plain)
    top = jnp.finfo(jnp.float32).max
    big = optim.tree.update_moment({"a": jnp.array([1e30])}, {"a": jnp.array([top])}, 0.5, 2)
    assert float(big["a"][0]) == float(top)


def poisoning():
    """A transform whose state overflows after two finite steps while its updates stay finite."""
    return optim.GradientTransformation(
        lambda params: jnp.full((), 1e20, jnp.float32),
        lambda updates, state, params=None, **extra: (updates, state * 1e19),
    )


def test_apply_if_finite_skips_a_step_that_would_poison_the_state():
    tx = optim.apply_if_finite(poisoning(), max_consecutive_errors=5)
    params = jnp.ones(2)
    state = tx.init(params)
    updates, state = tx.update(params, state, params)  # 1e39 overflows: skipped
    assert float(jnp.max(jnp.abs(updates))) == 0.0
    assert state.inner_state == jnp.float32(1e20) and int(state.notfinite_count) == 1
    # initial infinities in a state (a best value of inf, say) are no poison
    plateau = optim.apply_if_finite(optim.reduce_on_plateau(patience=2), 3)
    s = plateau.init(params)
    u, s = plateau.update(params, s, params, value=1.0)
    assert int(s.notfinite_count) == 0 and bool(jnp.all(u == params))


def test_apply_if_finite_never_skips_a_finite_step_after_giving_up():
    nan = jnp.array([jnp.nan, 1.0])
    ok = jnp.array([1.0, 2.0])
    grads = [nan, nan, ok, nan, ok]
    ours = optim.apply_if_finite(optim.sgd(0.1), max_consecutive_errors=2)
    theirs = optax.apply_if_finite(optax.sgd(0.1), max_consecutive_errors=2)
    params = jnp.zeros(2)
    s, t = ours.init(params), theirs.init(params)
    for i, g in enumerate(grads):
        u, s = ours.update(g, s, params)
        v, t = theirs.update(g, t, params)
        if bool(jnp.all(jnp.isfinite(g))):
            np.testing.assert_allclose(u, -0.1 * g)  # applied, as optax applies it
            np.testing.assert_allclose(u, v)
        else:
            np.testing.assert_array_equal(u, 0.0)  # never applied (optax applies it after 2)
        assert bool(s.gave_up) == (i >= 1)
    with pytest.raises(FloatingPointError, match="max_consecutive_errors"):
        optim.raise_if_gave_up(s)


@pytest.mark.parametrize("name", ["adam", "adamw", "nadam", "amsgrad", "adamax", "radam",
                                  "adabelief", "rmsprop", "adagrad", "adadelta", "lamb",
                                  "adafactor"])
def test_float16_params_take_float32_moments_and_descend(name):
    params = params_tree(jnp.float16)
    tx = ALIASES[name]()
    state = tx.init(params)
    moment_dtypes = {x.dtype for x in jax.tree.leaves(state)
                     if jnp.issubdtype(x.dtype, jnp.floating) and x.ndim > 0}
    assert jnp.dtype(jnp.float16) not in moment_dtypes, moment_dtypes
    small = jax.tree.map(lambda p: jnp.full_like(p, 1e-4), params)
    zero = jax.tree.map(jnp.zeros_like, params)
    for grads in [small, zero, small, zero]:
        updates, state = jax.jit(tx.update)(grads, state, params)
        assert all(finite_leaves(updates)) and all(finite_leaves(state)), name
        assert {x.dtype for x in jax.tree.leaves(updates)} == {jnp.dtype(jnp.float16)}


def test_float16_adam_first_step_is_the_sign_and_mu_dtype_is_honoured():
    params = {"w": jnp.ones(3, jnp.float16)}
    tx = optim.adam(1e-3)
    state = tx.init(params)
    updates, state = tx.update({"w": jnp.full(3, 1e-4, jnp.float16)}, state, params)
    np.testing.assert_allclose(np.asarray(updates["w"], np.float32), -1e-3, rtol=1e-3)
    kept = optim.scale_by_adam(mu_dtype=jnp.float16, nu_dtype=jnp.float16).init(params)
    assert kept.mu["w"].dtype == kept.nu["w"].dtype == jnp.float16


@pytest.mark.parametrize("name", ["sgd", "adam", "rmsprop", "lion", "adafactor", "lars"])
@pytest.mark.parametrize("dtype", [jnp.int32, jnp.bool_, jnp.complex64])
def test_integer_and_complex_gradients_of_real_params_are_refused(name, dtype):
    params = params_tree()
    tx = ALIASES[name]()
    state = tx.init(params)
    grads = jax.tree.map(lambda p: jnp.ones(p.shape, dtype), params)
    with pytest.raises(TypeError, match=r"the leaf at \['b'\] has dtype") as error:
        tx.update(grads, state, params)
    assert str(jnp.dtype(dtype)) in str(error.value)


def test_complex_updates_of_real_params_and_integer_state_dtypes_are_refused():
    with pytest.raises(TypeError, match=r"\['w'\] is float32, its update complex64"):
        optim.apply_updates({"w": jnp.ones(2)}, {"w": jnp.ones(2, jnp.complex64)})
    for build in [lambda: optim.adam(mu_dtype=jnp.int32),
                  lambda: optim.scale_by_adam(nu_dtype=jnp.int8),
                  lambda: optim.sgd(0.1, momentum=0.9, accumulator_dtype=jnp.int32),
                  lambda: optim.lion(mu_dtype="int16"),
                  lambda: optim.MultiSteps(optim.sgd(), 2, accumulator_dtype=jnp.int32)]:
        with pytest.raises(TypeError, match="must be a floating dtype"):
            build()
