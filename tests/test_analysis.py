"""Analysis: Hessian eigenvalues by power iteration and Lanczos against dense eigensolvers
(quadratics and a small MLP), the learning-rate regimes of the lectures, condition numbers,
finite-difference gradient checks, and the LR range test."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import optim
from optim import analysis, landscapes


def mlp_problem(key, dtype=jnp.float64):
    """A 3-5-2 tanh MLP with a softmax cross-entropy loss on 8 random points."""
    rng = np.random.default_rng(int(jax.random.randint(key, (), 0, 1000)))
    params = {
        "hidden": {"w": rng.standard_normal((3, 5)), "b": np.zeros(5)},
        "out": {"w": 0.5 * rng.standard_normal((5, 2)), "b": np.zeros(2)},
    }
    params = jax.tree.map(lambda a: jnp.asarray(a, dtype), params)
    x = jnp.asarray(rng.standard_normal((8, 3)), dtype)
    labels = jnp.asarray(rng.integers(0, 2, 8), jnp.int32)

    def loss(p):
        h = jnp.tanh(x @ p["hidden"]["w"] + p["hidden"]["b"][None, :])
        logits = h @ p["out"]["w"] + p["out"]["b"][None, :]
        logp = jax.nn.log_softmax(logits)
        return -jnp.mean(jnp.take_along_axis(logp, labels[:, None], axis=1))

    return params, loss


def dense_eigenvalues(fun, params):
    flat, unravel = ravel_pytree(params)
    return np.linalg.eigvalsh(np.asarray(jax.jit(jax.hessian(lambda v: fun(unravel(v))))(flat)))


def test_hessian_vector_product_on_pytree(x64, key):
    params, loss = mlp_problem(key)
    flat, unravel = ravel_pytree(params)
    v = jax.random.normal(jax.random.fold_in(key, 1), flat.shape, flat.dtype)
    hv = analysis.hessian_vector_product(loss, params, unravel(v))
    dense = jax.jit(jax.hessian(lambda z: loss(unravel(z))))(flat)
    np.testing.assert_allclose(ravel_pytree(hv)[0], dense @ v, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(analysis.hessian(loss, params), dense, rtol=1e-12)


@pytest.mark.slow
def test_top_eigenvalue_of_mlp_by_power_and_lanczos(x64, key):
    params, loss = mlp_problem(key)
    eigenvalues = dense_eigenvalues(loss, params)  # 32 of them, some negative
    top = eigenvalues[-1]
    lanczos = analysis.hessian_eigenvalues(loss, params, num_iterations=32)
    np.testing.assert_allclose(lanczos, eigenvalues, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(optim.top_hessian_eigenvalue(loss, params), top, rtol=1e-6)
    largest_magnitude = eigenvalues[np.argmax(np.abs(eigenvalues))]
    power = analysis.power_iteration(loss, params, num_iterations=1000, tol=1e-10)
    np.testing.assert_allclose(power.eigenvalue, largest_magnitude, rtol=1e-4)
    # The eigenvector has the params' structure and satisfies H v = lambda v.
    v = power.eigenvector
    assert jax.tree.structure(v) == jax.tree.structure(params)
    hv = analysis.hessian_vector_product(loss, params, v)
    np.testing.assert_allclose(ravel_pytree(hv)[0], power.eigenvalue * ravel_pytree(v)[0],
                               atol=1e-3 * abs(top))


@pytest.mark.slow
def test_lanczos_recovers_repeated_eigenvalues_after_breakdown(x64):
    """diag(1, 1, 1, 5, 5, 9): the Krylov space of one start vector has dimension 3, so the
    iteration breaks down and must restart to find the whole spectrum."""
    diagonal = jnp.array([1.0, 1.0, 1.0, 5.0, 5.0, 9.0])
    f = lambda x: 0.5 * jnp.sum(diagonal * x**2)
    values = analysis.hessian_eigenvalues(f, jnp.zeros(6), num_iterations=50)
    np.testing.assert_allclose(values, np.sort(np.asarray(diagonal)), atol=1e-8)


@pytest.mark.slow
def test_ill_conditioned_quadratic_eigenvalues_and_optimal_rate(x64):
    land = landscapes.ill_conditioned_quadratic(1e3, 20, rotation=0.3)
    x = jnp.asarray(land.start)
    top = optim.top_hessian_eigenvalue(land.fn, x, method="lanczos", num_iterations=20)
    np.testing.assert_allclose(top, 1e3, rtol=1e-9)
    power = optim.top_hessian_eigenvalue(land.fn, x, method="power")
    np.testing.assert_allclose(power, 1e3, rtol=1e-3)
    np.testing.assert_allclose(optim.optimal_learning_rate(land.fn, x), 1e-3, rtol=1e-9)
    np.testing.assert_allclose(
        optim.condition_number(analysis.hessian(land.fn, x)), 1e3, rtol=1e-8
    )
    with pytest.raises(ValueError, match="method"):
        optim.top_hessian_eigenvalue(land.fn, x, method="arnoldi")


@pytest.mark.slow
def test_three_regimes_of_the_lectures(x64):
    """Gradient descent on 10 x1^2 + 0.5 x2^2 (lambda_max = 20, eta_opt = 0.05): monotone
    below eta_opt, oscillating but converging between eta_opt and 2 eta_opt, diverging above."""
    bowl = landscapes.lecture_quadratic()
    x0 = jnp.array(bowl.start)
    eta_opt = float(optim.optimal_learning_rate(bowl.fn, x0))
    np.testing.assert_allclose(eta_opt, 0.05, rtol=1e-12)

    def x1_path(eta, steps=30):
        result = optim.minimize(bowl.fn, x0, optim.sgd(eta), max_steps=steps,
                                return_trajectory=True)
        return np.asarray(result.trajectory.params[:, 0])

    cases = {0.5 * eta_opt: "monotone", 1.5 * eta_opt: "oscillating", 2.5 * eta_opt: "divergent"}
    for eta, regime in cases.items():
        assert optim.learning_rate_regime(eta, 20.0) == regime
        path = x1_path(eta)
        np.testing.assert_allclose(path, -8.0 * (1 - 20 * eta) ** np.arange(31), rtol=1e-10)
        signs = np.sign(path)
        shrinking = np.all(np.abs(path[1:]) < np.abs(path[:-1]))
        if regime == "monotone":
            assert np.all(signs == -1) and shrinking
        elif regime == "oscillating":
            assert np.all(signs[1:] == -signs[:-1]) and shrinking
        else:
            assert np.all(signs[1:] == -signs[:-1])
            assert np.all(np.abs(path[1:]) > np.abs(path[:-1]))
    # eta = eta_opt: the stiff coordinate is solved in one step; 2 eta_opt: it flips forever.
    path = x1_path(eta_opt, 3)
    assert abs(path[1]) < 1e-12 and optim.learning_rate_regime(eta_opt, 20.0) == "optimal"
    path = x1_path(2 * eta_opt, 4)
    np.testing.assert_allclose(np.abs(path), 8.0)
    assert optim.learning_rate_regime(2 * eta_opt, 20.0) == "periodic"


def test_condition_number_against_numpy(x64):
    rng = np.random.default_rng(0)
    for shape in [(3, 3), (6, 6), (5, 3)]:
        m = rng.standard_normal(shape)
        np.testing.assert_allclose(optim.condition_number(m), np.linalg.cond(m), rtol=1e-10)
    assert np.isinf(optim.condition_number(np.diag([1.0, 0.0])))
    with pytest.raises(ValueError, match="matrix"):
        optim.condition_number(np.ones(3))


@pytest.mark.slow
def test_gradient_check_accepts_right_and_catches_wrong_gradients(x64, key):
    params, loss = mlp_problem(key)
    assert float(optim.gradient_check(loss, params)) < 1e-7

    grad = jax.jit(jax.grad(loss))

    def off_by_a_bit(p):
        g = grad(p)
        g["out"]["b"] = g["out"]["b"] * 1.05
        return g

    def forgot_a_factor(p):  # e.g. d/dw of w^2 written as w instead of 2 w
        g = grad(p)
        return jax.tree.map(lambda x: 0.5 * x, g)

    def swapped(p):
        g = grad(p)
        g["hidden"]["w"] = g["hidden"]["w"].T.reshape(3, 5)
        return g

    assert float(optim.gradient_check(loss, params, off_by_a_bit)) > 1e-2
    np.testing.assert_allclose(optim.gradient_check(loss, params, forgot_a_factor), 1 / 2,
                               rtol=1e-6)
    assert float(optim.gradient_check(loss, params, swapped)) > 0.5
    # Sampled coordinates see the error when it is everywhere.
    sampled = optim.gradient_check(loss, params, forgot_a_factor, num_checks=5, key=key)
    np.testing.assert_allclose(sampled, 1 / 2, rtol=1e-6)


def test_gradient_check_float32(key):
    params, loss = mlp_problem(key, jnp.float32)
    assert float(optim.gradient_check(loss, params)) < 0.05
    grad = jax.jit(jax.grad(loss))
    wrong = lambda p: jax.tree.map(lambda x: 1.2 * x, grad(p))
    assert float(optim.gradient_check(loss, params, wrong)) > 0.1
    with pytest.raises(ValueError, match="entries"):
        optim.gradient_check(loss, params, lambda p: {"w": jnp.ones(3)})


def test_lr_range_test_on_a_quadratic(x64):
    """0.5 * 4 * x^2: gradient descent diverges for eta > 2 / 4 = 0.5."""
    loss = lambda p: 2.0 * jnp.sum(p["x"] ** 2)
    result = optim.lr_range_test(loss, {"x": jnp.array([1.0, -1.0])}, optim.sgd,
                                 min_lr=1e-4, max_lr=10.0, num_steps=80)
    assert result.diverged
    assert 0.5 < result.learning_rates[-1] < 10.0
    # The loss at lr_t is measured before the step with lr_t, so the minimum can sit one
    # growth factor past 0.5.
    ratio = result.learning_rates[1] / result.learning_rates[0]
    assert 0.05 <= result.min_loss_learning_rate <= 0.5 * ratio
    assert 1e-3 <= result.suggested_learning_rate <= 0.5
    assert len(result.losses) == len(result.learning_rates) == len(result.smoothed_losses)
    np.testing.assert_allclose(result.learning_rates[1] / result.learning_rates[0],
                               (1e5) ** (1 / 79))
    np.testing.assert_allclose(result.losses[0], 4.0)


@pytest.mark.slow
def test_lr_range_test_with_batches_and_momentum(key):
    """Least squares on minibatches: the suggestion lies below the divergence bound 2/lambda_max
    of the full-batch Hessian (momentum 0.9 widens it to 2(1 + 0.9)/lambda_max)."""
    x = jax.random.normal(key, (64, 4)) * jnp.array([[1.0, 2.0, 0.5, 1.0]])
    y = x @ jnp.array([1.0, -1.0, 2.0, 0.5])
    batches = [(x[i : i + 16], y[i : i + 16]) for i in range(0, 64, 16)]

    def loss(w, batch):
        inputs, targets = batch
        return jnp.mean((inputs @ w - targets) ** 2)

    lambda_max = float(jnp.linalg.eigvalsh(2 * x.T @ x / 64)[-1])
    result = optim.lr_range_test(loss, jnp.zeros(4), lambda lr: optim.sgd(lr, momentum=0.9),
                                 batches, min_lr=1e-5, max_lr=1.0, num_steps=120)
    assert result.diverged
    assert result.suggested_learning_rate < 2 * 1.9 / lambda_max
    assert result.smoothed_losses.min() < 0.1 * result.losses[0]


def test_validation():
    with pytest.raises(ValueError, match="max_lr"):
        optim.lr_range_test(jnp.sum, jnp.ones(2), optim.sgd, min_lr=1.0, max_lr=0.1)
    with pytest.raises(ValueError, match="learning_rate"):
        optim.learning_rate_regime(0.0, 1.0)
    with pytest.raises(ValueError, match="num_iterations"):
        analysis.power_iteration(jnp.sum, jnp.ones(2), num_iterations=0)
