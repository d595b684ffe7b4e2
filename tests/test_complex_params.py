"""Complex params, as optax takes them: first moments keep the params' complex dtype, second
moments are real moments of `|g|**2` (g times its conjugate), norms sum `|g|**2`.

The gradient fed to the optimizers is the conjugate of `jax.grad` of a real loss: for a real
`f(z)` of a complex `z = x + i y`, `jax.grad(f)(z)` is `df/dx - i df/dy`, and the steepest
descent direction is its conjugate `df/dx + i df/dy` (optax's convention too; see
`optax.contrib.split_real_and_imaginary`). The methods that compare signs or magnitudes refuse
complex params with a TypeError naming the leaf.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optim

STEPS = 20


def complex_params(dtype=jnp.complex64):
    r = np.random.default_rng(0)

    def draw(*shape):
        return jnp.asarray(r.normal(size=shape) + 1j * r.normal(size=shape), dtype)

    return {"w": draw(3, 2), "layer": {"b": draw(2), "scale": draw()}}


def loss(params):
    """A real, non-quadratic loss of complex params (|z - t|^2 + 0.1 |z|^4 per entry)."""
    total = 0.0
    for z in jax.tree.leaves(params):
        sq = jnp.abs(z - (0.5 - 0.25j)) ** 2
        total = total + jnp.sum(sq + 0.1 * jnp.abs(z) ** 4)
    return total


def descent_grad(fun, params):
    """The conjugate of jax.grad: the direction in which a real `fun` grows fastest."""
    return jax.tree.map(jnp.conj, jax.grad(fun)(params))


def trajectory(tx, params, apply=optim.apply_updates):
    """`STEPS` steps of `tx` on `loss`, one jitted scan: the params after each step."""

    def step(carry, _):
        p, s = carry
        u, s = tx.update(descent_grad(loss, p), s, p)
        p = apply(p, u)
        return (p, s), p

    @jax.jit
    def run(p):
        return jax.lax.scan(step, (p, tx.init(p)), length=STEPS)[1]

    return run(params)


# (optim transform, optax transform), same hyperparameters.
CASES = {
    "sgd": (lambda: optim.sgd(0.05), lambda: optax.sgd(0.05)),
    "sgd_momentum": (lambda: optim.sgd(0.05, momentum=0.9),
                     lambda: optax.sgd(0.05, momentum=0.9)),
    "sgd_nesterov": (lambda: optim.sgd(0.05, momentum=0.9, nesterov=True),
                     lambda: optax.sgd(0.05, momentum=0.9, nesterov=True)),
    "adam": (lambda: optim.adam(0.05), lambda: optax.adam(0.05)),
    "adam_nesterov": (lambda: optim.adam(0.05, nesterov=True),
                      lambda: optax.adam(0.05, nesterov=True)),
    "adamw": (lambda: optim.adamw(0.05, weight_decay=0.1),
              lambda: optax.adamw(0.05, weight_decay=0.1)),
    "nadam": (lambda: optim.nadam(0.05, momentum_decay=None), lambda: optax.nadam(0.05)),
    "rmsprop": (lambda: optim.rmsprop(0.02), lambda: optax.rmsprop(0.02)),
    "rmsprop_centered": (lambda: optim.rmsprop(0.02, centered=True, momentum=0.5),
                         lambda: optax.rmsprop(0.02, centered=True, momentum=0.5)),
    "adagrad": (lambda: optim.adagrad(0.2), lambda: optax.adagrad(0.2)),
    "adamax": (lambda: optim.adamax(0.05), lambda: optax.adamax(0.05)),
    "amsgrad": (lambda: optim.amsgrad(0.05), lambda: optax.amsgrad(0.05)),
    "lamb": (lambda: optim.lamb(0.05), lambda: optax.lamb(0.05)),
    "lars": (lambda: optim.lars(0.5), lambda: optax.lars(0.5)),
    "clip_by_global_norm": (
        lambda: optim.chain(optim.clip_by_global_norm(0.5), optim.sgd(0.1)),
        lambda: optax.chain(optax.clip_by_global_norm(0.5), optax.sgd(0.1))),
    "scale_by_rms": (
        lambda: optim.chain(optim.scale_by_rms(decay=0.8), optim.scale(-0.02)),
        lambda: optax.chain(optax.scale_by_rms(decay=0.8), optax.scale(-0.02))),
    "scale_by_adam": (
        lambda: optim.chain(optim.scale_by_adam(b2=0.99, eps_root=1e-8), optim.scale(-0.05)),
        lambda: optax.chain(optax.scale_by_adam(b2=0.99, eps_root=1e-8), optax.scale(-0.05))),
    "scale_by_rss": (
        lambda: optim.chain(optim.scale_by_rss(), optim.scale(-0.2)),
        lambda: optax.chain(optax.scale_by_rss(), optax.scale(-0.2))),
    "trace_ema": (
        lambda: optim.chain(optim.trace(0.5), optim.ema(0.7), optim.scale(-0.05)),
        lambda: optax.chain(optax.trace(0.5), optax.ema(0.7), optax.scale(-0.05))),
    "add_decayed_weights": (
        lambda: optim.chain(optim.add_decayed_weights(0.3), optim.sgd(0.05)),
        lambda: optax.chain(optax.add_decayed_weights(0.3), optax.sgd(0.05))),
    "inject_hyperparams": (
        lambda: optim.inject_hyperparams(optim.adam)(learning_rate=0.05, b1=0.8),
        lambda: optax.inject_hyperparams(optax.adam)(learning_rate=0.05, b1=0.8)),
}


def assert_trajectories_close(ours, theirs, rtol, atol):
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs), strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=atol)


@pytest.mark.parametrize("name", list(CASES))
def test_complex64_trajectory_matches_optax(name):
    ours, theirs = CASES[name]
    params = complex_params()
    path = trajectory(ours(), params)
    assert_trajectories_close(path, trajectory(theirs(), params, optax.apply_updates),
                              rtol=2e-5, atol=2e-6)
    # The run moved: the imaginary parts too, and the loss went down.
    assert float(loss(jax.tree.map(lambda x: x[-1], path))) < 0.9 * float(loss(params))
    assert not np.allclose(np.imag(path["w"][-1]), np.imag(params["w"]))


@pytest.mark.parametrize("name", ["sgd_nesterov", "adam", "rmsprop_centered", "adagrad"])
def test_complex128_trajectory_matches_optax(name, x64):
    ours, theirs = CASES[name]
    params = complex_params(jnp.complex128)
    path = trajectory(ours(), params)
    assert path["w"].dtype == jnp.complex128
    assert_trajectories_close(path, trajectory(theirs(), params, optax.apply_updates),
                              rtol=1e-11, atol=1e-12)


def test_second_moments_are_real_and_first_moments_complex():
    params = complex_params()
    state = optim.named_chain(("adam", optim.scale_by_adam(mu_dtype=jnp.float32)),
                              ("rms", optim.scale_by_rms(centered=True)),
                              ("rss", optim.scale_by_rss())).init(params)
    assert {x.dtype for x in jax.tree.leaves(state["adam"].mu)} == {jnp.dtype(jnp.complex64)}
    for nu in (state["adam"].nu, state["rms"].nu, state["rss"].sum_of_squares):
        assert {x.dtype for x in jax.tree.leaves(nu)} == {jnp.dtype(jnp.float32)}
    assert {x.dtype for x in jax.tree.leaves(state["rms"].mu)} == {jnp.dtype(jnp.complex64)}


def test_a_huge_complex_gradient_saturates_the_real_second_moment():
    params = {"z": jnp.zeros(2, jnp.complex64)}
    tx = optim.adam(1e-3)
    state = tx.init(params)
    grads = {"z": jnp.array([3e20 + 4e20j, 1 - 1j], jnp.complex64)}
    updates, state = jax.jit(tx.update)(grads, state, params)
    nu = np.asarray(state[0].nu["z"])
    assert nu.dtype == np.float32 and np.all(np.isfinite(nu))
    np.testing.assert_allclose(nu[0], 0.001 * np.finfo(np.float32).max, rtol=1e-4)
    np.testing.assert_allclose(nu[1], 0.001 * 2, rtol=1e-4)
    assert np.all(np.isfinite(np.asarray(updates["z"])))


def test_clip_by_global_norm_sums_the_squared_moduli():
    updates = {"z": (1 + 2j) * jnp.ones(3, jnp.complex64)}
    clipped, _ = jax.jit(optim.clip_by_global_norm(1.0).update)(updates, optim.EmptyState())
    # ||u|| = sqrt(3 * |1 + 2i|^2) = sqrt(15): u / sqrt(15), not u / sqrt(|sum u^2|) = u / 3.
    np.testing.assert_allclose(np.asarray(clipped["z"]), (1 + 2j) / np.sqrt(15), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(clipped["z"])[0], 0.258199 + 0.516398j, rtol=1e-5)
    tree = {"a": jnp.array([3 + 4j], jnp.complex64), "b": jnp.array([12.0])}
    assert float(optim.tree_global_norm(tree)) == pytest.approx(13.0)
    assert float(optim.tree_sum_of_squares(tree)) == pytest.approx(169.0)
    # The norm of a huge complex tree is still finite (the rescaled sum).
    huge = {"a": jnp.array([3e30 + 4e30j], jnp.complex64)}
    assert float(optim.tree_global_norm(huge)) == pytest.approx(5e30, rel=1e-6)


def test_tree_vdot_conjugates_its_first_argument_as_optax():
    a = {"x": jnp.array([1 + 2j, 3 - 1j], jnp.complex64)}
    b = {"x": jnp.array([2 - 1j, 1j], jnp.complex64)}
    expected = np.vdot(np.asarray(a["x"]), np.asarray(b["x"]))
    np.testing.assert_allclose(complex(optim.tree_vdot(a, b)), expected, rtol=1e-6)
    np.testing.assert_allclose(complex(optax.tree.vdot(a, b)), expected, rtol=1e-6)


def test_clip_bounds_the_modulus_and_keeps_the_phase():
    u = jnp.array([3 + 4j, 0.3 - 0.4j, 0j, -10j], jnp.complex64)
    out = np.asarray(jax.jit(optim.clip(1.0).update)({"u": u}, optim.EmptyState())[0]["u"])
    reference = np.array([0.6 + 0.8j, 0.3 - 0.4j, 0j, -1j])
    np.testing.assert_allclose(out, reference, rtol=1e-6, atol=1e-7)
    real = np.asarray(optim.clip(1.0).update(jnp.array([-3.0, 0.5]), optim.EmptyState())[0])
    np.testing.assert_array_equal(real, [-1.0, 0.5])


def test_apply_updates_adds_complex_updates_to_complex_params():
    params = {"z": jnp.array([1 + 1j], jnp.complex64), "x": jnp.array([1.0])}
    out = optim.apply_updates(params, {"z": jnp.array([0.5 - 2j], jnp.complex64),
                                       "x": jnp.array([0.5])})
    assert out["z"].dtype == jnp.complex64 and out["x"].dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(out["z"]), [1.5 - 1j])


def test_adam_solves_complex_least_squares():
    r = np.random.default_rng(3)
    a = r.normal(size=(8, 3)) + 1j * r.normal(size=(8, 3))
    b = r.normal(size=8) + 1j * r.normal(size=8)
    solution = np.linalg.lstsq(a, b, rcond=None)[0]
    a_j, b_j = jnp.asarray(a, jnp.complex64), jnp.asarray(b, jnp.complex64)

    def residual(z):
        return jnp.sum(jnp.abs(a_j @ z - b_j) ** 2)

    schedule = optax.exponential_decay(0.05, 1500, 0.01)
    tx = optim.adam(schedule)

    def solve(gradient):
        def step(carry, _):
            z, s = carry
            u, s = tx.update(gradient(z), s, z)
            return (optim.apply_updates(z, u), s), None

        z0 = jnp.zeros(3, jnp.complex64)
        return jax.jit(lambda: jax.lax.scan(step, (z0, tx.init(z0)), length=1500)[0][0])()

    z = solve(lambda z: jnp.conj(jax.grad(residual)(z)))
    np.testing.assert_allclose(np.asarray(z), solution, atol=2e-3)
    # jax.grad itself is the conjugate of the descent direction: fed unconjugated, the
    # imaginary parts climb and the run does not reach the solution.
    wrong = solve(jax.grad(residual))
    assert np.max(np.abs(np.asarray(wrong) - solution)) > 0.1


def test_split_real_and_imaginary_agrees_with_complex_sgd():
    # Plain SGD is linear: on the pair (re, im) it is the same step as on the complex param.
    params = complex_params()
    split = optim.contrib.split_real_and_imaginary(optim.sgd(0.05, momentum=0.9))
    path = trajectory(split, params)
    assert_trajectories_close(path, trajectory(optim.sgd(0.05, momentum=0.9), params),
                              rtol=1e-6, atol=1e-6)


REFUSE_COMPLEX_PARAMS = {
    "lion": (optim.lion, "scale_by_lion"),
    "rprop": (optim.rprop, "scale_by_rprop"),
    "adaptive_gains": (optim.adaptive_gains, "scale_by_adaptive_gains"),
    "lbfgs": (optim.lbfgs, "scale_by_lbfgs"),
    "bfgs": (optim.bfgs, "scale_by_bfgs"),
    "newton": (optim.newton, "scale_by_newton"),
    "zoom": (optim.scale_by_zoom_linesearch, "scale_by_zoom_linesearch"),
    "backtracking": (optim.scale_by_backtracking_linesearch,
                     "scale_by_backtracking_linesearch"),
    "adafactor": (optim.adafactor, "scale_by_factored_rms"),
    "sm3": (optim.scale_by_sm3, "scale_by_sm3"),
    "adadelta": (optim.adadelta, "scale_by_adadelta"),
}


@pytest.mark.parametrize("name", list(REFUSE_COMPLEX_PARAMS))
def test_sign_and_second_order_methods_refuse_complex_params(name):
    build, who = REFUSE_COMPLEX_PARAMS[name]
    tx = build()
    with pytest.raises(TypeError, match=rf"{who} takes real params only: the leaf at "
                                        r"\['layer'\]\['b'\] has dtype complex64"):
        tx.init(complex_params())


def test_sign_refuses_complex_updates():
    with pytest.raises(TypeError, match=r"sign takes real updates only: the leaf at \['u'\] has"
                                        r" dtype complex64"):
        optim.sign().update({"u": jnp.ones(2, jnp.complex64)}, optim.EmptyState())


@pytest.mark.parametrize("name", ["sgd_momentum", "adam", "rmsprop", "adagrad",
                                  "clip_by_global_norm"])
def test_complex_gradients_of_real_params_and_integer_gradients_are_refused(name):
    tx = CASES[name][0]()
    real = {"x": jnp.ones(2), "z": jnp.ones(2, jnp.complex64)}
    state = tx.init(real)
    complex_grads = {"x": jnp.ones(2, jnp.complex64), "z": jnp.ones(2, jnp.complex64)}
    with pytest.raises(TypeError, match=r"\['x'\] has dtype complex64 and the .*float32; a "
                                        r"complex gradient of a real param"):
        tx.update(complex_grads, state, real)
    int_grads = {"x": jnp.ones(2), "z": jnp.ones(2, jnp.int32)}
    with pytest.raises(TypeError, match=r"\['z'\] has dtype int32"):
        tx.update(int_grads, state, real)


def test_integer_params_are_still_refused_and_complex_accepted_by_chain():
    with pytest.raises(TypeError, match=r"real or complex.*\['n'\] has dtype int32"):
        optim.adam().init({"n": jnp.ones(2, jnp.int32)})
    optim.adam().init(complex_params())
