"""The minimize driver: every stopping rule, trajectories, pytrees, aux outputs, first-order and
optax optimizers, compile-once behaviour, vmap."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optim

BOWL = optim.landscapes.lecture_quadratic()


def bowl_np(x):
    return 10.0 * x[0] ** 2 + 0.5 * x[1] ** 2


def gd_iterates(x0, learning_rate, steps):
    """Closed form of gradient descent on 10 x1^2 + 0.5 x2^2: x_t = (1 - eta h)^t x_0."""
    t = np.arange(steps + 1)[:, None]
    return np.asarray(x0) * (1.0 - learning_rate * np.array([20.0, 1.0])) ** t


def test_sgd_trajectory_matches_closed_form(x64):
    x0 = jnp.array(BOWL.start)
    result = optim.minimize(BOWL.fn, x0, optim.sgd(0.04), max_steps=50, return_trajectory=True)
    assert result.reason == "max_steps" and not bool(result.converged)
    assert int(result.num_steps) == 50
    expected = gd_iterates(BOWL.start, 0.04, 50)
    np.testing.assert_allclose(result.trajectory.params, expected, rtol=1e-12)
    np.testing.assert_allclose(result.trajectory.values, [bowl_np(x) for x in expected], rtol=1e-12)
    np.testing.assert_allclose(result.params, expected[-1], rtol=1e-12)
    np.testing.assert_allclose(result.value, bowl_np(expected[-1]), rtol=1e-12)
    np.testing.assert_allclose(
        result.grad_norm, np.linalg.norm(expected[-1] * [20.0, 1.0]), rtol=1e-12
    )


def test_tol_grad_stops_at_first_step_below(x64):
    x0 = jnp.array(BOWL.start)
    tol = 1e-3
    result = optim.minimize(BOWL.fn, x0, optim.sgd(0.04), max_steps=1000, tol_grad=tol)
    expected = gd_iterates(BOWL.start, 0.04, 1000)
    norms = np.linalg.norm(expected * [20.0, 1.0], axis=1)
    first = int(np.argmax(norms <= tol))
    assert result.reason == "tol_grad" and bool(result.converged)
    assert int(result.num_steps) == first
    assert float(result.grad_norm) <= tol


def test_tol_params_and_tol_value(x64):
    x0 = jnp.array(BOWL.start)
    expected = gd_iterates(BOWL.start, 0.04, 1000)
    steps = np.linalg.norm(np.diff(expected, axis=0), axis=1)
    changes = np.abs(np.diff([bowl_np(x) for x in expected]))

    result = optim.minimize(BOWL.fn, x0, optim.sgd(0.04), max_steps=1000, tol_params=1e-4)
    assert result.reason == "tol_params" and bool(result.converged)
    assert int(result.num_steps) == int(np.argmax(steps <= 1e-4)) + 1

    result = optim.minimize(BOWL.fn, x0, optim.sgd(0.04), max_steps=1000, tol_value=1e-6)
    assert result.reason == "tol_value" and bool(result.converged)
    assert int(result.num_steps) == int(np.argmax(changes <= 1e-6)) + 1


def test_divergence_is_reported(x64):
    x0 = jnp.array(BOWL.start)
    # eta = 0.2 > 2 / 20: x1 is multiplied by -3 per step until 10 x1^2 overflows float64.
    result = optim.minimize(BOWL.fn, x0, optim.sgd(0.2), max_steps=5000, tol_grad=1e-8)
    assert result.reason == "diverged" and not bool(result.converged)
    with np.errstate(over="ignore"):
        values = [bowl_np(x) for x in gd_iterates(BOWL.start, 0.2, 400)]
    assert abs(int(result.num_steps) - int(np.argmax(~np.isfinite(values)))) <= 1
    # A NaN value (not only an overflow) stops the run too.
    nan_fun = lambda x: jnp.where(x[0] < 5.0, -x[0], jnp.nan) + x[1] ** 2
    result = optim.minimize(nan_fun, jnp.array([4.0, 0.0]), optim.sgd(2.0), max_steps=50)
    assert result.reason == "diverged" and int(result.num_steps) == 1


def test_start_is_checked_first(x64):
    result = optim.minimize(BOWL.fn, jnp.zeros(2), optim.sgd(0.1), max_steps=10, tol_grad=1e-6)
    assert int(result.num_steps) == 0 and result.reason == "tol_grad"
    result = optim.minimize(BOWL.fn, jnp.zeros(2), optim.sgd(0.1), max_steps=10)
    assert int(result.num_steps) == 0 and result.reason == "stationary"
    assert bool(result.converged)
    result = optim.minimize(BOWL.fn, jnp.array([jnp.inf, 0.0]), optim.sgd(0.1), max_steps=10)
    assert int(result.num_steps) == 0 and result.reason == "diverged"
    result = optim.minimize(BOWL.fn, jnp.ones(2), optim.sgd(0.1), max_steps=0)
    assert int(result.num_steps) == 0 and result.reason == "max_steps"


def test_failed_line_search_stalls_not_converges(x64):
    """An ascent direction: backtracking finds no step, the update is 0, the run stops."""
    ascent = optim.chain(optim.scale(1.0), optim.scale_by_backtracking_linesearch())
    result = optim.minimize(BOWL.fn, jnp.array([1.0, 1.0]), ascent, max_steps=100, tol_params=1e-3)
    assert result.reason == "stalled" and not bool(result.converged)
    assert int(result.num_steps) == 1


@pytest.mark.parametrize(
    "make",
    [
        lambda: optim.sgd(0.05, momentum=0.9),
        lambda: optim.adam(0.1),
        lambda: optim.rmsprop(0.01),
        lambda: optim.chain(optim.sgd(1.0), optim.scale_by_zoom_linesearch()),
    ],
)
def test_first_order_optimizers_on_pytrees(make):
    target = {"a": jnp.array([1.0, -2.0]), "b": [jnp.array(0.5), jnp.ones((2, 2))]}

    def loss(p):
        return sum(
            jnp.sum((x - t) ** 2) for x, t in zip(jax.tree.leaves(p), jax.tree.leaves(target), strict=True)
        )

    x0 = jax.tree.map(jnp.zeros_like, target)
    result = optim.minimize(loss, x0, make(), max_steps=3000, tol_grad=1e-3)
    assert result.reason == "tol_grad", result.reason
    for x, t in zip(jax.tree.leaves(result.params), jax.tree.leaves(target), strict=True):
        np.testing.assert_allclose(x, t, atol=1e-3)
        assert x.dtype == jnp.float32


@pytest.mark.parametrize(
    "name, kwargs",
    [("adagrad", {"learning_rate": 1.0}), ("adadelta", {"learning_rate": 10.0}),
     ("adamw", {"learning_rate": 0.1, "weight_decay": 0.0}), ("rprop", {"learning_rate": 0.1}),
     # The second-order families are slow here (test_second_order.py has their quick cases).
     *(pytest.param(name, kwargs, marks=pytest.mark.slow)
       for name, kwargs in [("newton", {}), ("bfgs", {}), ("lbfgs", {"memory_size": 3})])],
)
def test_every_family_decreases_the_shifted_quadratic(name, kwargs):
    land = optim.landscapes.shifted_quadratic()
    x0 = jnp.array(land.start)
    result = optim.minimize(land.fn, x0, getattr(optim, name)(**kwargs), max_steps=300)
    assert bool(jnp.isfinite(result.value))
    assert float(result.value) < 1e-2 * float(land.fn(x0)), (name, float(result.value))


@pytest.mark.slow
def test_optax_optimizers_run_unchanged(x64):
    optax = pytest.importorskip("optax")
    rosen = optim.landscapes.rosenbrock()
    x0 = jnp.array(rosen.start)
    theirs = optim.minimize(rosen.fn, x0, optax.lbfgs(), max_steps=200, tol_grad=1e-8)
    ours = optim.minimize(rosen.fn, x0, optim.lbfgs(), max_steps=200, tol_grad=1e-8)
    assert theirs.reason == ours.reason == "tol_grad"
    np.testing.assert_allclose(theirs.params, ours.params, atol=1e-8)
    # A plain optax transform whose update takes no extras at all.
    result = optim.minimize(BOWL.fn, jnp.array(BOWL.start), optax.chain(optax.scale_by_adam(),
                            optax.scale(-0.5)), max_steps=2000, tol_grad=1e-6)
    assert result.reason == "tol_grad"


def test_has_aux_and_args(x64):
    def loss(w, x, y):
        residual = x @ w - y
        return jnp.mean(residual**2), {"max_residual": jnp.max(jnp.abs(residual))}

    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((30, 3)))
    w_true = jnp.array([0.5, -1.0, 2.0])
    y = x @ w_true
    result = optim.minimize(loss, jnp.zeros(3), optim.bfgs(), max_steps=100, tol_grad=1e-10,
                            args=(x, y), has_aux=True)
    assert result.reason == "tol_grad"
    np.testing.assert_allclose(result.params, w_true, rtol=1e-8)
    assert float(result.aux["max_residual"]) < 1e-8
    np.testing.assert_allclose(result.value, loss(result.params, x, y)[0])


def test_compiles_once_per_objective_and_optimizer():
    traces = []

    def fun(x):
        traces.append(1)
        return jnp.sum((x - 1.0) ** 2)

    tx = optim.lbfgs()
    first = optim.minimize(fun, jnp.zeros(3), tx, max_steps=50, tol_grad=1e-4)
    count = len(traces)
    second = optim.minimize(fun, jnp.full(3, 5.0), tx, max_steps=50, tol_grad=1e-5, tol_value=0.0)
    assert len(traces) == count
    assert first.reason == second.reason == "tol_grad"


def test_vmap_over_starting_points_and_reasons():
    starts = jnp.array([[0.0, 0.0], [1.0, 2.0], [-8.0, 8.0]])
    run = jax.vmap(lambda x0: optim.minimize(BOWL.fn, x0, optim.sgd(0.04), max_steps=300,
                                             tol_grad=1e-4))
    results = run(starts)
    assert list(results.reason) == ["tol_grad", "tol_grad", "tol_grad"]
    assert int(results.num_steps[0]) == 0 and int(results.num_steps[2]) > int(results.num_steps[1])


def test_arguments_validated():
    with pytest.raises(ValueError, match="max_steps"):
        optim.minimize(BOWL.fn, jnp.ones(2), optim.sgd(0.1), max_steps=-1)
    with pytest.raises(ValueError, match="max_steps"):
        optim.minimize(BOWL.fn, jnp.ones(2), optim.sgd(0.1), max_steps=1.5)
    with pytest.raises(ValueError, match="tol_grad"):
        optim.minimize(BOWL.fn, jnp.ones(2), optim.sgd(0.1), max_steps=5, tol_grad=-1.0)
    with pytest.raises(TypeError, match="GradientTransformation"):
        optim.minimize(BOWL.fn, jnp.ones(2), "sgd", max_steps=5)
    with pytest.raises(ValueError, match="scalar"):
        optim.minimize(lambda x: x, jnp.ones(2), optim.sgd(0.1), max_steps=5)
