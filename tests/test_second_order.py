"""Newton, BFGS and L-BFGS: against NumPy transcriptions, closed forms, and scipy's iteration
counts on Rosenbrock."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import optim
from tests import reference
from tests.optim_helpers import params_like


def spd_matrix(n, condition, seed):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return q @ np.diag(np.geomspace(1.0, condition, n)) @ q.T


def nested_quadratic(seed=0, condition=50.0):
    """f(p) = 0.5 x^T A x - b^T x over the flattened nested pytree p; A, b, and f in NumPy."""
    p0 = params_like(jnp.float64, seed=seed)
    n = ravel_pytree(p0)[0].size
    a = spd_matrix(n, condition, seed)
    b = np.random.default_rng(seed + 1).standard_normal(n)

    def f(p):
        x = ravel_pytree(p)[0]
        return 0.5 * x @ (jnp.asarray(a) @ x) - jnp.asarray(b) @ x

    return p0, f, a, b


def flat_run(tx, fun, x0, steps):
    """Iterates (flattened, float64) of `steps` jitted updates that get params and extras;
    checks that the step compiles once."""
    traces = []

    @jax.jit
    def step(x, state):
        traces.append(1)
        value, grad = jax.value_and_grad(fun)(x)
        updates, state = tx.update(grad, state, x, value=value, grad=grad, value_fn=fun)
        return optim.apply_updates(x, updates), state

    x, state = x0, tx.init(x0)
    out = [np.asarray(ravel_pytree(x)[0])]
    for _ in range(steps):
        x, state = step(x, state)
        out.append(np.asarray(ravel_pytree(x)[0]))
    assert len(traces) == 1
    return np.stack(out), state


@pytest.mark.parametrize("scale_init_precond", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_bfgs_matches_reference(x64, scale_init_precond):
    p0, f, a, b = nested_quadratic()
    tx = optim.bfgs(learning_rate=0.5, scale_init_precond=scale_init_precond, linesearch=None)
    ours, state = flat_run(tx, f, p0, 25)
    expected = reference.bfgs_run(
        lambda x: a @ x - b, ours[0], 25, 0.5, scale_init_precond=scale_init_precond
    )
    np.testing.assert_allclose(ours, expected, rtol=1e-9, atol=1e-11)
    assert int(optim.get_field(state, "num_updates")) == 24
    # The approximation stays symmetric positive definite.
    h = np.asarray(optim.get_field(state, "inv_hessian"))
    np.testing.assert_allclose(h, h.T, atol=1e-10)
    assert np.linalg.eigvalsh(h).min() > 0


@pytest.mark.parametrize("memory_size, scale_init_precond", [(4, True), pytest.param(3, False, marks=pytest.mark.slow)])
def test_lbfgs_matches_reference(x64, memory_size, scale_init_precond):
    p0, f, a, b = nested_quadratic(seed=3)
    tx = optim.lbfgs(0.5, memory_size, scale_init_precond, linesearch=None)
    ours, _ = flat_run(tx, f, p0, 25)
    expected = reference.lbfgs_run(
        lambda x: a @ x - b, ours[0], 25, 0.5, memory_size, scale_init_precond
    )
    np.testing.assert_allclose(ours, expected, rtol=1e-9, atol=1e-11)


@pytest.mark.slow
def test_lbfgs_with_line_search_solves_nested_quadratic(x64):
    p0, f, a, b = nested_quadratic(seed=5, condition=100.0)
    result = optim.minimize(f, p0, optim.lbfgs(), max_steps=200, tol_grad=1e-8)
    assert result.reason == "tol_grad"
    np.testing.assert_allclose(ravel_pytree(result.params)[0], np.linalg.solve(a, b), rtol=1e-7)
    assert jax.tree.structure(result.params) == jax.tree.structure(p0)


def curvy(x, a):
    """sum cos(x_i) + 0.5 x^T A x, whose Hessian A - diag(cos x) is known in closed form."""
    return jnp.sum(jnp.cos(x)) + 0.5 * x @ (jnp.asarray(a) @ x)


@pytest.mark.slow
def test_newton_dense_direction_matches_reference(x64):
    """At points where the Hessian is indefinite and where it is positive definite."""
    a = spd_matrix(6, 3.0, 0) * 0.6  # eigenvalues 0.6 .. 1.8; H = A - diag(cos x)
    tx = optim.scale_by_newton()
    rng = np.random.default_rng(0)
    flags = []
    for _ in range(4):
        x = jnp.asarray(rng.uniform(-3, 3, 6))
        g = jax.grad(curvy)(x, a)
        direction, state = tx.update(g, tx.init(x), x, value_fn=lambda z: curvy(z, a))
        hess = a - np.diag(np.cos(np.asarray(x)))
        np.testing.assert_allclose(
            direction, reference.newton_direction(hess, np.asarray(g)), rtol=1e-9
        )
        flags.append(bool(state.negative_curvature) == (np.linalg.eigvalsh(hess).min() <= 0))
    assert all(flags)


@pytest.mark.parametrize(
    "solver, extra, condition",
    [("dense", {}, 1e4), pytest.param("cg", {"cg_rtol": 1e-12, "max_cg_steps": 100}, 100.0, marks=pytest.mark.slow)],
)
def test_newton_solves_quadratic_in_one_step(x64, solver, extra, condition):
    p0, f, a, b = nested_quadratic(seed=2, condition=condition)
    result = optim.minimize(
        f, p0, optim.newton(solver=solver, **extra), max_steps=10, tol_grad=1e-8
    )
    assert int(result.num_steps) == 1 and result.reason == "tol_grad"
    np.testing.assert_allclose(ravel_pytree(result.params)[0], np.linalg.solve(a, b), rtol=1e-9)


@pytest.mark.slow
def test_newton_cg_matches_dense_where_positive_definite(x64):
    a = spd_matrix(8, 10.0, 4) * 3.0  # H = A - diag(cos x) stays positive definite
    x = jnp.asarray(np.random.default_rng(1).uniform(-1, 1, 8))
    g = jax.grad(curvy)(x, a)
    fn = lambda z: curvy(z, a)
    dense = optim.scale_by_newton(solver="dense")
    cg = optim.scale_by_newton(solver="cg", cg_rtol=1e-12)
    d_dense, _ = dense.update(g, dense.init(x), x, value_fn=fn)
    d_cg, state = cg.update(g, cg.init(x), x, value_fn=fn)
    np.testing.assert_allclose(d_cg, d_dense, rtol=1e-8)
    assert 1 <= int(state.num_cg_steps) <= 8 and not bool(state.negative_curvature)


def test_newton_safeguards_at_a_saddle(x64):
    """x^2 - y^2: pure Newton jumps onto the saddle (0, 0); the dense safeguard (|eigenvalues|)
    steps away from it along y, and CG meeting negative curvature first falls back to -grad."""
    f = optim.landscapes.saddle().fn
    x = jnp.array([0.5, 0.1])
    tx = optim.newton()
    value, grad = jax.value_and_grad(f)(x)
    updates, state = tx.update(grad, tx.init(x), x, value=value, grad=grad, value_fn=f)
    np.testing.assert_allclose(x + updates, [0.0, 0.2], atol=1e-12)
    assert bool(optim.get_field(state, "negative_curvature"))

    x = jnp.array([0.1, 0.5])  # here g^T H g < 0: CG stops at once
    grad = jax.grad(f)(x)
    cg = optim.scale_by_newton(solver="cg")
    direction, state = cg.update(grad, cg.init(x), x, value_fn=f)
    np.testing.assert_allclose(direction, grad)
    assert bool(state.negative_curvature) and int(state.num_cg_steps) == 1


@pytest.mark.slow
def test_bfgs_skips_pairs_without_positive_curvature(x64):
    tx = optim.scale_by_bfgs()
    x0, g0 = jnp.array([0.0, 0.0]), jnp.array([1.0, 0.0])
    x1, g1 = jnp.array([1.0, 0.0]), jnp.array([0.5, 0.0])  # y^T s = -0.5 < 0
    _, state = tx.update(g0, tx.init(x0), x0)
    direction, state = tx.update(g1, state, x1)
    np.testing.assert_array_equal(state.inv_hessian, np.eye(2))
    assert int(state.num_updates) == 0
    np.testing.assert_allclose(direction, g1)

    lb = optim.scale_by_lbfgs(memory_size=3)
    _, state = lb.update(g0, lb.init(x0), x0)
    direction, state = lb.update(g1, state, x1)
    assert int(state.num_updates) == 0 and float(jnp.sum(state.rho)) == 0.0
    np.testing.assert_allclose(direction, g1)


def test_newton_rosenbrock_within_25_steps(x64):
    so = pytest.importorskip("scipy.optimize")
    rosen = optim.landscapes.rosenbrock()
    result = optim.minimize(rosen.fn, jnp.array(rosen.start), optim.newton(), max_steps=100,
                            tol_grad=1e-8)
    assert result.reason == "tol_grad" and int(result.num_steps) <= 25
    np.testing.assert_allclose(result.params, [1.0, 1.0], atol=1e-8)
    reference_run = so.minimize(so.rosen, np.array(rosen.start), jac=so.rosen_der,
                                hess=so.rosen_hess, method="Newton-CG", options={"xtol": 1e-12})
    np.testing.assert_allclose(result.params, reference_run.x, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("dim", [2, 100])
@pytest.mark.parametrize("method", ["bfgs", "lbfgs"])
def test_quasi_newton_no_more_iterations_than_scipy(x64, method, dim):
    """f < 1e-10 on Rosenbrock from (-1.2, 1, ...) in no more iterations than scipy's BFGS /
    L-BFGS-B at the same gradient tolerance (ours on the l2 norm, scipy's on the max-norm)."""
    so = pytest.importorskip("scipy.optimize")
    rosen = optim.landscapes.rosenbrock(dim)
    x0 = np.array(rosen.start)
    tol = 1e-6
    optimizer = optim.bfgs() if method == "bfgs" else optim.lbfgs()
    result = optim.minimize(rosen.fn, jnp.asarray(x0), optimizer, max_steps=2000, tol_grad=tol)
    if method == "bfgs":
        theirs = so.minimize(so.rosen, x0, jac=so.rosen_der, method="BFGS",
                             options={"gtol": tol, "maxiter": 5000})
    else:
        # ftol=0 so that scipy too stops on the gradient, not on a small change in f.
        theirs = so.minimize(so.rosen, x0, jac=so.rosen_der, method="L-BFGS-B",
                             options={"gtol": tol, "ftol": 0.0, "maxiter": 5000})
    assert theirs.success
    assert result.reason == "tol_grad"
    assert float(result.value) < 1e-10
    assert int(result.num_steps) <= theirs.nit, (int(result.num_steps), theirs.nit)
    np.testing.assert_allclose(result.params, np.ones(dim), atol=1e-5)


@pytest.mark.slow
def test_float32_and_bfloat16_params():
    rosen = optim.landscapes.rosenbrock()
    result = optim.minimize(rosen.fn, jnp.array(rosen.start, jnp.float32), optim.lbfgs(),
                            max_steps=200, tol_grad=1e-4)
    assert result.params.dtype == jnp.float32
    assert float(result.value) < 1e-6

    params = {"w": jnp.array([1.0, -2.0], jnp.bfloat16)}
    grads = {"w": jnp.array([0.5, 0.25], jnp.bfloat16)}
    for tx in [optim.scale_by_bfgs(), optim.scale_by_lbfgs()]:
        state = tx.init(params)
        updates, state = tx.update(grads, state, params)
        assert updates["w"].dtype == jnp.bfloat16
        assert jax.tree.leaves(state)[1].dtype == jnp.float32


def test_missing_extras_are_named():
    x = jnp.ones(2)
    newton = optim.scale_by_newton()
    with pytest.raises(TypeError, match="value_fn"):
        newton.update(x, newton.init(x), x)
    for tx in [optim.scale_by_bfgs(), optim.scale_by_lbfgs()]:
        with pytest.raises(TypeError, match="params"):
            tx.update(x, tx.init(x))
    tx = optim.bfgs()
    with pytest.raises(TypeError, match="value, grad, value_fn"):
        tx.update(x, tx.init(x), x)


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: optim.lbfgs(memory_size=0), "memory_size"),
        (lambda: optim.newton(damping=-1.0), "damping"),
        (lambda: optim.newton(solver="qr"), "solver"),
        (lambda: optim.newton(cg_rtol=2.0), "cg_rtol"),
        (lambda: optim.bfgs(linesearch="wolfe"), "linesearch"),
        (lambda: optim.bfgs(learning_rate=-1.0), "learning_rate"),
    ],
)
def test_hyperparameters_validated(build, match):
    with pytest.raises(ValueError, match=match):
        build()
