"""Landscapes: formulas against NumPy transcriptions, values and zero gradients at the known
minima and saddle points, curvature there, plotting grids."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optim
from optim import landscapes

CATALOG = landscapes.catalog()


def np_formulas():
    """Independent NumPy transcriptions of each 2-D formula, keyed by landscape name."""
    return {
        "lecture_quadratic": lambda x, y: 10 * x**2 + 0.5 * y**2,
        "shifted_quadratic": lambda x, y: 1.25 * (x + 6) ** 2 + (y - 8) ** 2,
        "sine_exp": lambda x, y: -np.sin(x) / (2 * np.pi) * np.exp((y - np.pi / 2) ** 2),
        "sine_gaussian": lambda x, y: -np.sin(x) / (2 * np.pi) * np.exp(-((y - np.pi / 2) ** 2)),
        "rosenbrock": lambda x, y: (1 - x) ** 2 + 100 * (y - x**2) ** 2,
        "beale": lambda x, y: (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2
        + (2.625 - x + x * y**3) ** 2,
        "himmelblau": lambda x, y: (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2,
        "saddle": lambda x, y: x**2 - y**2,
        "monkey_saddle": lambda x, y: x**3 - 3 * x * y**2,
        "rastrigin": lambda x, y: 20 + x**2 - 10 * np.cos(2 * np.pi * x) + y**2
        - 10 * np.cos(2 * np.pi * y),
    }


@pytest.mark.parametrize("land", [c for c in CATALOG if c.name in np_formulas()], ids=lambda c: c.name)
def test_formula_matches_numpy(x64, land):
    rng = np.random.default_rng(0)
    (x0, x1), (y0, y1) = land.domain
    points = np.stack([rng.uniform(x0, x1, 50), rng.uniform(y0, y1, 50)], axis=1)
    ours = np.asarray(jax.vmap(land.fn)(jnp.asarray(points)))
    np.testing.assert_allclose(ours, np_formulas()[land.name](points[:, 0], points[:, 1]),
                               rtol=1e-12, atol=1e-12)


def test_nd_formulas_match_scipy_and_numpy(x64):
    so = pytest.importorskip("scipy.optimize")
    rng = np.random.default_rng(1)
    for dim in [2, 5, 30]:
        x = rng.uniform(-2, 2, dim)
        np.testing.assert_allclose(landscapes.rosenbrock(dim).fn(jnp.asarray(x)), so.rosen(x),
                                   rtol=1e-12)
        expected = 10 * dim + np.sum(x**2 - 10 * np.cos(2 * np.pi * x))
        np.testing.assert_allclose(landscapes.rastrigin(dim).fn(jnp.asarray(x)), expected,
                                   rtol=1e-12)


def inside(land, point):
    return all(lo <= p <= hi for p, (lo, hi) in zip(point, land.domain, strict=True))


# Op by op (eager gradients and Hessians in float64): the higher dimensions and the three
# slowest of the catalog are slow.
SLOW_POINTS = {"lecture_quadratic", "rastrigin", "ill_conditioned_quadratic(kappa=100, dim=2)"}


@pytest.mark.parametrize("land", tuple(
    pytest.param(land, id=land.name, marks=pytest.mark.slow) if land.name in SLOW_POINTS else land
    for land in CATALOG
) + tuple(
    pytest.param(land, id=land.name, marks=pytest.mark.slow)
    for land in (landscapes.rosenbrock(7), landscapes.rastrigin(4),
                 landscapes.ill_conditioned_quadratic(1e3, 5, rotation=0.4))
), ids=lambda c: c.name)
def test_known_points(x64, land):
    grad = jax.grad(land.fn)
    hess = jax.hessian(land.fn)
    assert land.minima or land.saddle_points
    for point in land.minima:
        x = jnp.asarray(point)
        assert len(point) == land.dim and inside(land, point)
        np.testing.assert_allclose(land.fn(x), land.minimum_value, atol=1e-12)
        np.testing.assert_allclose(grad(x), np.zeros(land.dim), atol=1e-10)
        assert np.linalg.eigvalsh(np.asarray(hess(x))).min() > 0  # strict minima, all of them
    for point in land.saddle_points:
        x = jnp.asarray(point)
        assert inside(land, point)
        np.testing.assert_allclose(grad(x), np.zeros(land.dim), atol=1e-10)
        eigenvalues = np.linalg.eigvalsh(np.asarray(hess(x)))
        if np.allclose(eigenvalues, 0):  # degenerate (monkey saddle): f changes sign nearby
            e = 1e-3 * np.eye(land.dim)[0]
            assert float(land.fn(x + e)) * float(land.fn(x - e)) < 0
        else:
            assert eigenvalues.min() < 0 < eigenvalues.max()
    if land.start is not None:
        assert len(land.start) == land.dim and inside(land, land.start)
    if land.hessian is not None:
        np.testing.assert_allclose(hess(jnp.asarray(land.start)), np.array(land.hessian),
                                   rtol=1e-12, atol=1e-12)


def test_sine_exp_forms(x64):
    """The printed form has a saddle at (pi/2, pi/2); the Gaussian form a global minimum."""
    point = jnp.array([math.pi / 2, math.pi / 2])
    c = 1 / (2 * math.pi)
    np.testing.assert_allclose(jax.hessian(landscapes.sine_exp().fn)(point),
                               np.diag([c, -2 * c]), atol=1e-12)
    gaussian = landscapes.sine_exp(gaussian=True)
    np.testing.assert_allclose(jax.hessian(gaussian.fn)(point), np.diag([c, 2 * c]), atol=1e-12)
    _, _, Z = gaussian.grid(101)
    assert Z.min() >= -c - 1e-12
    np.testing.assert_allclose(Z.min(), -c, rtol=1e-3)


def test_ill_conditioned_quadratic_condition_number(x64):
    for kappa, dim, angle in [(10.0, 2, 0.0), (1e4, 2, 0.7), (100.0, 6, 1.0)]:
        land = landscapes.ill_conditioned_quadratic(kappa, dim, rotation=angle)
        h = optim.analysis.hessian(land.fn, jnp.ones(dim))
        np.testing.assert_allclose(optim.condition_number(h), kappa, rtol=1e-9)
        np.testing.assert_allclose(np.linalg.eigvalsh(np.asarray(h)), np.geomspace(1, kappa, dim),
                                   rtol=1e-9)
    rotated = landscapes.ill_conditioned_quadratic(100.0, 2, rotation=math.pi / 4)
    assert abs(rotated.hessian[0][1]) > 1.0  # the valley is off the axes


def test_grid():
    land = landscapes.himmelblau()
    X, Y, Z = land.grid(30)
    assert X.shape == Y.shape == Z.shape == (30, 30)
    assert X.min() == -5.0 and Y.max() == 5.0
    np.testing.assert_allclose(Z, np_formulas()["himmelblau"](X, Y), rtol=1e-5)
    with pytest.raises(ValueError, match="2-D"):
        landscapes.rosenbrock(3).grid()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["beale", "himmelblau", "shifted_quadratic"])
def test_bfgs_from_start_reaches_a_listed_minimum(x64, name):
    land = getattr(landscapes, name)()
    result = optim.minimize(land.fn, jnp.asarray(land.start), optim.bfgs(), max_steps=200,
                            tol_grad=1e-9)
    assert result.reason == "tol_grad"
    distances = [np.linalg.norm(np.asarray(result.params) - m) for m in land.minima]
    assert min(distances) < 1e-8


def test_landscapes_are_hashable_and_validated():
    assert hash(landscapes.beale()) == hash(landscapes.beale())
    with pytest.raises(ValueError, match="dim"):
        landscapes.rosenbrock(1)
    with pytest.raises(ValueError, match="condition_number"):
        landscapes.ill_conditioned_quadratic(0.5)
