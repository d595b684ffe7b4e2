"""Test functions for optimizers: the lectures' examples and the classic benchmarks.

Each factory returns a `Landscape`: the function `fn(x)` of a 1-D array `x` of length `dim`,
a plotting `domain`, and what is known about it (global `minima` and `minimum_value`,
`saddle_points`, a customary `start`, the constant `hessian` of a quadratic):

    bowl = landscapes.lecture_quadratic()
    result = optim.minimize(bowl.fn, jnp.array(bowl.start), optim.sgd(0.04), max_steps=100)
    X, Y, Z = bowl.grid(200)       # for contour plots of 2-D landscapes

Formulas and minima: the lectures for the first three; Rosenbrock (1960), Beale (1958),
Himmelblau (1972), Rastrigin (1974); the usual values as in Surjanovic & Bingham's Virtual
Library of Simulation Experiments (sfu.ca/~ssurjano) and Jamil & Yang (2013).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from _descent import validation

__all__ = [
    "Landscape",
    "beale",
    "catalog",
    "himmelblau",
    "ill_conditioned_quadratic",
    "lecture_quadratic",
    "monkey_saddle",
    "rastrigin",
    "rosenbrock",
    "saddle",
    "shifted_quadratic",
    "sine_exp",
]

Point = tuple[float, ...]


@dataclasses.dataclass(frozen=True)
class Landscape:
    """A test function with what is known about it.

    `fn` maps an array of shape `(dim,)` to a scalar. `domain` holds a `(low, high)` plotting
    range per coordinate. `minima` lists the global minimizers (value `minimum_value`),
    `saddle_points` the saddle points, `start` a customary starting point, and `hessian` the
    constant Hessian of a quadratic (None otherwise). Landscapes are hashable, so `fn` can be
    passed to `optim.minimize` repeatedly without recompiling.
    """

    name: str
    formula: str
    fn: Callable[[jax.Array], jax.Array]
    dim: int
    domain: tuple[tuple[float, float], ...]
    minima: tuple[Point, ...] = ()
    minimum_value: float | None = None
    saddle_points: tuple[Point, ...] = ()
    start: Point | None = None
    hessian: tuple[tuple[float, ...], ...] | None = None

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.fn(x)

    def grid(self, num: int = 100) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`X, Y, Z` on a `num x num` grid over the domain of a 2-D landscape (for contours)."""
        if self.dim != 2:
            raise ValueError(f"grid needs a 2-D landscape, {self.name} has dim={self.dim}")
        (x0, x1), (y0, y1) = self.domain
        X, Y = np.meshgrid(np.linspace(x0, x1, num), np.linspace(y0, y1, num))
        points = jnp.stack([jnp.asarray(X).ravel(), jnp.asarray(Y).ravel()], axis=1)
        Z = np.asarray(jax.vmap(self.fn)(points)).reshape(X.shape)
        return X, Y, Z


def _as_tuple(matrix: np.ndarray) -> tuple[tuple[float, ...], ...]:
    return tuple(tuple(float(v) for v in row) for row in matrix)


def _check_dim(dim: int, low: int) -> None:
    validation.integer("dim", dim, low)


# --- the lectures' examples ------------------------------------------------------------------


def _lecture_quadratic(x):
    return 10.0 * x[0] ** 2 + 0.5 * x[1] ** 2


def lecture_quadratic() -> Landscape:
    """`10 x1^2 + 0.5 x2^2`: the lectures' elongated bowl (Hessian diag(20, 1), condition 20).

    Gradient descent with a fixed learning rate eta converges for eta < 2/20 = 0.1, monotonically
    in x1 for eta < 1/20 (see `optim.analysis.learning_rate_regime`).
    """
    return Landscape(
        name="lecture_quadratic",
        formula="10 x1^2 + 0.5 x2^2",
        fn=_lecture_quadratic,
        dim=2,
        domain=((-10.0, 10.0), (-10.0, 10.0)),
        minima=((0.0, 0.0),),
        minimum_value=0.0,
        start=(-8.0, 8.0),
        hessian=((20.0, 0.0), (0.0, 1.0)),
    )


def _shifted_quadratic(x):
    return 1.25 * (x[0] + 6.0) ** 2 + (x[1] - 8.0) ** 2


def shifted_quadratic() -> Landscape:
    """`1.25 (x1 + 6)^2 + (x2 - 8)^2`: the lectures' SGD illustration, minimum at (-6, 8)."""
    return Landscape(
        name="shifted_quadratic",
        formula="1.25 (x1 + 6)^2 + (x2 - 8)^2",
        fn=_shifted_quadratic,
        dim=2,
        domain=((-14.0, 2.0), (0.0, 16.0)),
        minima=((-6.0, 8.0),),
        minimum_value=0.0,
        start=(0.0, 0.0),
        hessian=((2.5, 0.0), (0.0, 2.0)),
    )


def _sine_exp(x):
    return -jnp.sin(x[0]) * jnp.exp((x[1] - jnp.pi / 2) ** 2) / (2 * jnp.pi)


def _sine_gaussian(x):
    return -jnp.sin(x[0]) * jnp.exp(-((x[1] - jnp.pi / 2) ** 2)) / (2 * jnp.pi)


def sine_exp(gaussian: bool = False) -> Landscape:
    """`-sin(x1) exp((x2 - pi/2)^2) / (2 pi)`, the lectures' gradient-descent example.

    As printed in the lecture the exponent is positive: the point (pi/2, pi/2), value -1/(2 pi),
    is then a saddle (curvature +1/(2 pi) along x1, -2/(2 pi) along x2) and the function is
    unbounded below. `gaussian=True` gives the bump `exp(-(x2 - pi/2)^2)` that the lecture's
    "walking down the hill, towards the valley" suggests, for which (pi/2, pi/2) is a global
    minimum with the same value (as are its copies at x1 = pi/2 + 2 k pi; the only one in the
    domain).
    """
    point = (math.pi / 2, math.pi / 2)
    value = -1.0 / (2 * math.pi)
    if gaussian:
        return Landscape(
            name="sine_gaussian",
            formula="-sin(x1) exp(-(x2 - pi/2)^2) / (2 pi)",
            fn=_sine_gaussian,
            dim=2,
            domain=((-math.pi / 2, 3 * math.pi / 2), (math.pi / 2 - 2.5, math.pi / 2 + 2.5)),
            minima=(point,),
            minimum_value=value,
            start=(0.3, 0.5),
        )
    return Landscape(
        name="sine_exp",
        formula="-sin(x1) exp((x2 - pi/2)^2) / (2 pi)",
        fn=_sine_exp,
        dim=2,
        domain=((-math.pi / 2, 3 * math.pi / 2), (math.pi / 2 - 1.0, math.pi / 2 + 1.0)),
        saddle_points=(point,),
        minimum_value=None,
        start=(0.3, 1.2),
    )


# --- classic benchmarks ------------------------------------------------------------------------


def _rosenbrock(x):
    return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def rosenbrock(dim: int = 2) -> Landscape:
    """`sum_i 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2` (Rosenbrock 1960; the chained N-d form).

    Global minimum 0 at (1, ..., 1) at the end of a curved, flat valley; customary start
    (-1.2, 1, -1.2, 1, ...). For 4 <= dim <= 7 there is also a local minimum near
    (-1, 1, ..., 1) (Kok & Sandrock 2009), not listed.
    """
    _check_dim(dim, 2)
    start = tuple(float(v) for v in np.resize([-1.2, 1.0], dim))
    return Landscape(
        name=f"rosenbrock{dim}" if dim != 2 else "rosenbrock",
        formula="sum_i 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2",
        fn=_rosenbrock,
        dim=dim,
        domain=((-2.0, 2.0), (-1.0, 3.0)) + ((-2.0, 2.0),) * (dim - 2),
        minima=((1.0,) * dim,),
        minimum_value=0.0,
        start=start,
    )


def _beale(x):
    a, b = x[0], x[1]
    return (1.5 - a + a * b) ** 2 + (2.25 - a + a * b**2) ** 2 + (2.625 - a + a * b**3) ** 2


def beale() -> Landscape:
    """Beale's function (1958): `(1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2`,
    minimum 0 at (3, 0.5), flat plateaus and steep ridges at the corners of [-4.5, 4.5]^2."""
    return Landscape(
        name="beale",
        formula="(1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2",
        fn=_beale,
        dim=2,
        domain=((-4.5, 4.5), (-4.5, 4.5)),
        minima=((3.0, 0.5),),
        minimum_value=0.0,
        start=(1.0, 1.5),
    )


def _himmelblau(x):
    return (x[0] ** 2 + x[1] - 11.0) ** 2 + (x[0] + x[1] ** 2 - 7.0) ** 2


def himmelblau() -> Landscape:
    """Himmelblau's function (1972): `(x^2 + y - 11)^2 + (x + y^2 - 7)^2`.

    Four global minima of value 0, at (3, 2) and three irrational points; a local maximum near
    (-0.2708, -0.9230) and four saddle points (all stationary points solved to 1e-14).
    """
    return Landscape(
        name="himmelblau",
        formula="(x^2 + y - 11)^2 + (x + y^2 - 7)^2",
        fn=_himmelblau,
        dim=2,
        domain=((-5.0, 5.0), (-5.0, 5.0)),
        minima=(
            (3.0, 2.0),
            (-2.805118086952745, 3.131312518250573),
            (-3.779310253377747, -3.2831859912861696),
            (3.5844283403304917, -1.8481265269644036),
        ),
        minimum_value=0.0,
        saddle_points=(
            (0.08667750455539634, 2.884254701174776),
            (3.385154183607021, 0.0738518798377493),
            (-3.0730257507643897, -0.08135304428796751),
            (-0.12796134673068008, -1.9537149802445763),
        ),
        start=(0.0, 0.0),
    )


def _saddle(x):
    return x[0] ** 2 - x[1] ** 2


def saddle() -> Landscape:
    """`x^2 - y^2`: the simplest saddle point, at the origin (Hessian diag(2, -2))."""
    return Landscape(
        name="saddle",
        formula="x^2 - y^2",
        fn=_saddle,
        dim=2,
        domain=((-2.0, 2.0), (-2.0, 2.0)),
        saddle_points=((0.0, 0.0),),
        start=(1.5, 1e-3),
        hessian=((2.0, 0.0), (0.0, -2.0)),
    )


def _monkey_saddle(x):
    return x[0] ** 3 - 3.0 * x[0] * x[1] ** 2


def monkey_saddle() -> Landscape:
    """`x^3 - 3 x y^2`: the monkey saddle, a degenerate saddle (zero Hessian) at the origin
    with three descending valleys."""
    return Landscape(
        name="monkey_saddle",
        formula="x^3 - 3 x y^2",
        fn=_monkey_saddle,
        dim=2,
        domain=((-1.5, 1.5), (-1.5, 1.5)),
        saddle_points=((0.0, 0.0),),
        start=(1.0, 0.1),
    )


def ill_conditioned_quadratic(
    condition_number: float = 100.0, dim: int = 2, *, rotation: float = 0.0
) -> Landscape:
    """`0.5 x^T A x` with eigenvalues geometrically spaced from 1 to `condition_number`.

    `A = R diag(1, ..., condition_number) R^T`, with `R` a rotation by `rotation` radians in the
    (x1, x2) plane (identity by default), so the valley can lie off the axes. Minimum 0 at the
    origin; gradient descent converges for learning rates below `2 / condition_number` and
    needs about `condition_number` steps per digit at the best fixed rate.
    """
    if isinstance(condition_number, bool) or not condition_number >= 1.0:
        raise ValueError(f"condition_number must be >= 1, got {condition_number!r}")
    _check_dim(dim, 1)
    eigenvalues = np.geomspace(1.0, float(condition_number), dim)
    rot = np.eye(dim)
    if dim >= 2:
        c, s = math.cos(rotation), math.sin(rotation)
        rot[:2, :2] = [[c, -s], [s, c]]
    matrix = rot @ np.diag(eigenvalues) @ rot.T
    hessian = _as_tuple(matrix)

    def fn(x):
        a = jnp.asarray(hessian, jnp.result_type(x))
        return 0.5 * x @ (a @ x)

    return Landscape(
        name=f"ill_conditioned_quadratic(kappa={condition_number:g}, dim={dim})",
        formula="0.5 x^T A x, eig(A) = geomspace(1, kappa, dim)",
        fn=fn,
        dim=dim,
        domain=((-1.0, 1.0),) * dim,
        minima=((0.0,) * dim,),
        minimum_value=0.0,
        start=(1.0,) * dim,
        hessian=hessian,
    )


def _rastrigin(x):
    return 10.0 * x.shape[0] + jnp.sum(x**2 - 10.0 * jnp.cos(2 * jnp.pi * x))


def rastrigin(dim: int = 2) -> Landscape:
    """Rastrigin's function (1974): `10 n + sum_i x_i^2 - 10 cos(2 pi x_i)`, global minimum 0 at
    the origin among a lattice of local minima near the integer points."""
    _check_dim(dim, 1)
    return Landscape(
        name=f"rastrigin{dim}" if dim != 2 else "rastrigin",
        formula="10 n + sum_i x_i^2 - 10 cos(2 pi x_i)",
        fn=_rastrigin,
        dim=dim,
        domain=((-5.12, 5.12),) * dim,
        minima=((0.0,) * dim,),
        minimum_value=0.0,
        start=(2.5,) * dim,
    )


def catalog() -> tuple[Landscape, ...]:
    """One instance of every landscape, with default arguments (both forms of `sine_exp`)."""
    return (
        lecture_quadratic(),
        shifted_quadratic(),
        sine_exp(),
        sine_exp(gaussian=True),
        rosenbrock(),
        beale(),
        himmelblau(),
        saddle(),
        monkey_saddle(),
        ill_conditioned_quadratic(),
        rastrigin(),
    )
