"""optim.projections against optax.projections, NumPy closed forms and scipy, with the
properties of a Euclidean projection: feasible, idempotent and, for convex sets, optimal
(`<x - P(x), y - P(x)> <= 0` for every feasible `y`)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import scipy.optimize

import optim
from optim import projections as P

DTYPES = ["float32", "float64"]
TOL = {"float32": 2e-5, "float64": 1e-12}


def random_tree(seed, dtype, spread=2.0):
    rng = np.random.default_rng(seed)
    return {"w": jnp.asarray(spread * rng.standard_normal((2, 3)), dtype),
            "b": (jnp.asarray(spread * rng.standard_normal(3), dtype),
                  jnp.asarray(spread * rng.standard_normal(), dtype))}


def flat(tree):
    return np.concatenate([np.ravel(np.asarray(leaf, np.float64))
                           for leaf in jax.tree.leaves(tree)])


def unflat(vector, like):
    leaves, treedef = jax.tree.flatten(like)
    sizes = np.cumsum([np.size(leaf) for leaf in leaves])[:-1]
    parts = np.split(np.asarray(vector), sizes)
    return jax.tree.unflatten(treedef, [jnp.asarray(p.reshape(np.shape(leaf)), leaf.dtype)
                                        for p, leaf in zip(parts, leaves, strict=True)])


def close(actual, expected, tol):
    np.testing.assert_allclose(flat(actual), flat(expected), rtol=tol, atol=tol)


def all_projections(module, x, a, only=None):
    """name -> each projection of `module` (ours or optax's) applied to `x` (those named in
    `only`, or all)."""
    lower = jax.tree.map(lambda leaf: leaf * 0 - 0.5, x)
    upper = jax.tree.map(lambda leaf: leaf * 0 + 1.5, x)
    arguments = {
        "projection_non_negative": (), "projection_box": (lower, upper),
        "projection_linf_ball": (0.8,), "projection_l2_ball": (1.5,),
        "projection_l2_sphere": (1.5,), "projection_simplex": (2.0,),
        "projection_l1_ball": (1.5,), "projection_l1_sphere": (1.5,),
        "projection_hyperplane": (a, 0.7), "projection_halfspace": (a, -0.7),
        "projection_vector": (a,), "projection_hypercube": (upper,)}
    results = {}
    for name, args in arguments.items():
        if only is not None and name not in only:
            continue
        if name == "projection_hypercube" and module is not P:
            # optax's hypercube takes one array only (its box needs a tree of lower bounds)
            results[name] = module.projection_box(x, jax.tree.map(jnp.zeros_like, x), upper)
        else:
            results[name] = getattr(module, name)(x, *args)
    return results


OURS = jax.jit(lambda x, a: all_projections(P, x, a))
THEIRS = jax.jit(lambda x, a: all_projections(optax.projections, x, a))


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_projection_matches_optax(dtype):
    with jax.enable_x64(dtype == "float64"):
        for seed in range(2):
            x, a = random_tree(seed, dtype), random_tree(seed + 10, dtype)
            ours, theirs = OURS(x, a), THEIRS(x, a)
            assert sorted(ours) == sorted(P.__all__)
            for name, got in ours.items():
                assert jax.tree.structure(got) == jax.tree.structure(x), name
                assert all(g.dtype == jnp.dtype(dtype) for g in jax.tree.leaves(got)), name
                close(got, theirs[name], TOL[dtype])
        eager = P.projection_simplex(x, 2.0)  # once without jit
        close(eager, theirs["projection_simplex"], TOL[dtype])


def test_scalar_bounds_are_broadcast_over_a_tree():
    x = random_tree(0, "float32")
    close(P.projection_hypercube(x), jax.tree.map(lambda v: jnp.clip(v, 0, 1), x), 0)
    close(P.projection_box(x, -0.5, 0.25), jax.tree.map(lambda v: jnp.clip(v, -0.5, 0.25), x), 0)


def simplex_reference(v, s):
    """The simplex projection from its KKT conditions: `p = max(v - theta, 0)` with
    `sum(p) = s`, `theta` found by bisection on the monotone `sum(max(v - theta, 0))`."""
    lo, hi = v.min() - s, v.max()
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if np.maximum(v - mid, 0).sum() > s else (lo, mid)
    return np.maximum(v - (lo + hi) / 2, 0)


def l1_ball_scipy(v, s):
    """argmin ||v - y||^2 s.t. ||y||_1 <= s, as a smooth QP in y = u - w with u, w >= 0."""
    n = v.size
    fun = lambda z: np.sum((v - z[:n] + z[n:]) ** 2)  # noqa: E731
    jac = lambda z: np.concatenate([-2 * (v - z[:n] + z[n:]), 2 * (v - z[:n] + z[n:])])  # noqa: E731
    result = scipy.optimize.minimize(
        fun, np.zeros(2 * n), jac=jac, method="SLSQP", bounds=[(0, None)] * (2 * n),
        constraints=[{"type": "ineq", "fun": lambda z: s - z.sum(), "jac": lambda z: -np.ones(2 * n)}],
        options={"ftol": 1e-14, "maxiter": 500})
    return result.x[:n] - result.x[n:]


def test_simplex_and_l1_against_kkt_and_scipy():
    with jax.enable_x64(True):
        for seed in range(3):
            x = random_tree(seed, "float64")
            v = flat(x)
            for s in (0.5, 1.0, 30.0):  # 30: more than ||x||_1, the whole simplex support
                p = flat(P.projection_simplex(x, s))
                np.testing.assert_allclose(p, simplex_reference(v, s), atol=1e-10)
                theta = (v - p)[p > 0]
                assert np.ptp(theta) < 1e-10 and np.all(v[p == 0] <= theta[0] + 1e-10)
                sphere = flat(P.projection_l1_sphere(x, s))
                np.testing.assert_allclose(
                    sphere, np.sign(v) * simplex_reference(np.abs(v), s), atol=1e-10)
                np.testing.assert_allclose(flat(P.projection_l1_ball(x, s)),
                                           l1_ball_scipy(v, s), atol=1e-6)
            simplex_scipy = scipy.optimize.minimize(
                lambda y, v=v: np.sum((v - y) ** 2), np.full(v.size, 1 / v.size), method="SLSQP",
                bounds=[(0, None)] * v.size, options={"ftol": 1e-14},
                constraints=[{"type": "eq", "fun": lambda y: y.sum() - 1}]).x
            np.testing.assert_allclose(flat(P.projection_simplex(x)), simplex_scipy, atol=1e-6)


def test_closed_forms():
    with jax.enable_x64(True):
        x, a = random_tree(3, "float64"), random_tree(4, "float64")
        v, u = flat(x), flat(a)
        norm = np.linalg.norm(v)
        for s in (0.5, 2 * norm):
            np.testing.assert_allclose(flat(P.projection_l2_ball(x, s)),
                                       v * min(1, s / norm), rtol=1e-12)
            np.testing.assert_allclose(flat(P.projection_l2_sphere(x, s)), v * s / norm, rtol=1e-12)
            np.testing.assert_allclose(flat(P.projection_linf_ball(x, s)), np.clip(v, -s, s))
        np.testing.assert_array_equal(flat(P.projection_l1_ball(x, np.abs(v).sum() + 0.1)), v)
        np.testing.assert_allclose(flat(P.projection_hyperplane(x, a, 0.3)),
                                   v + (0.3 - u @ v) / (u @ u) * u, rtol=1e-12)
        for b in (u @ v - 1, u @ v + 1):
            np.testing.assert_allclose(flat(P.projection_halfspace(x, a, b)),
                                       v + min(b - u @ v, 0) / (u @ u) * u, rtol=1e-12)
        np.testing.assert_allclose(flat(P.projection_vector(x, a)), (u @ v) / (u @ u) * u,
                                   rtol=1e-12)
        np.testing.assert_array_equal(flat(P.projection_non_negative(x)), np.maximum(v, 0))


def feasible_points(rng, x, a, count=5):
    """name -> (a membership test on flat vectors, random flat members) for the sets of
    `all_projections`."""
    n, u = flat(x).size, flat(a)

    def members(make):
        return [make() for _ in range(count)]

    def l1_point(s):
        z = rng.standard_normal(n)
        return z / np.abs(z).sum() * s * rng.uniform()

    def halfspace_point(b):
        z = 3 * rng.standard_normal(n)
        gap = u @ z - b
        return z - (gap + rng.uniform()) / (u @ u) * u if gap > 0 else z

    return {
        "projection_non_negative": (lambda p: np.all(p >= 0),
                                    members(lambda: np.abs(rng.standard_normal(n)))),
        "projection_box": (lambda p: np.all((p >= -0.5) & (p <= 1.5)),
                           members(lambda: rng.uniform(-0.5, 1.5, n))),
        "projection_hypercube": (lambda p: np.all((p >= 0) & (p <= 1.5)),
                                 members(lambda: rng.uniform(0, 1.5, n))),
        "projection_linf_ball": (lambda p: np.all(np.abs(p) <= 0.8 + 1e-6),
                                 members(lambda: rng.uniform(-0.8, 0.8, n))),
        "projection_l2_ball": (lambda p: np.linalg.norm(p) <= 1.5 + 1e-5,
                               members(lambda: (lambda z: z / np.linalg.norm(z) * 1.5
                                                * rng.uniform())(rng.standard_normal(n)))),
        "projection_simplex": (lambda p: np.all(p >= 0) and abs(p.sum() - 2) < 1e-5,
                               members(lambda: 2 * rng.dirichlet(np.ones(n)))),
        "projection_l1_ball": (lambda p: np.abs(p).sum() <= 1.5 + 1e-5,
                               members(lambda: l1_point(1.5))),
        "projection_hyperplane": (lambda p: abs(u @ p - 0.7) < 1e-4,
                                  members(lambda: (lambda z: z - (u @ z - 0.7) / (u @ u) * u)(
                                      rng.standard_normal(n)))),
        "projection_halfspace": (lambda p: u @ p <= -0.7 + 1e-4,
                                 members(lambda: halfspace_point(-0.7))),
        "projection_vector": (lambda p: np.linalg.matrix_rank(np.stack([p, u]), 1e-5) <= 1,
                              members(lambda: rng.standard_normal() * u)),
    }


def test_feasible_idempotent_and_optimal():
    rng = np.random.default_rng(0)
    for seed in range(2):
        x, a = random_tree(seed, "float32"), random_tree(seed + 10, "float32")
        projected = OURS(x, a)
        for name, (member, ys) in feasible_points(rng, x, a).items():
            p = projected[name]
            assert member(flat(p)), name
            close(OURS(p, a)[name], p, 1e-5)
            v, q = flat(x), flat(p)
            for y in ys:
                assert member(y), name
                assert (v - q) @ (y - q) <= 1e-4 * (1 + np.abs(v - q).sum()), name
    # The spheres are not convex: feasible and idempotent only.
    x, a = random_tree(5, "float32"), random_tree(6, "float32")
    projected = OURS(x, a)
    for name, norm in (("projection_l2_sphere", np.linalg.norm),
                       ("projection_l1_sphere", lambda p: np.abs(p).sum())):
        p = projected[name]
        assert abs(norm(flat(p)) - 1.5) < 1e-5
        close(OURS(p, a)[name], p, 1e-5)


def test_degenerate_points_of_the_spheres_stay_on_them():
    zero = {"a": jnp.zeros(4)}
    np.testing.assert_allclose(flat(P.projection_l2_sphere(zero, 2.0)), np.full(4, 1.0))
    # ||x||_1 < scale leaves mass for the zero entries; they must get it to reach the sphere.
    p = flat(P.projection_l1_sphere({"a": jnp.array([0.1, 0.0, -0.2])}, 1.0))
    np.testing.assert_allclose(np.abs(p).sum(), 1.0, rtol=1e-6)
    np.testing.assert_allclose(p, [0.1 + 0.7 / 3, 0.7 / 3, -0.2 - 0.7 / 3], rtol=1e-6)
    np.testing.assert_array_equal(flat(P.projection_simplex(zero, 0.0)), np.zeros(4))
    np.testing.assert_array_equal(flat(P.projection_l2_ball(zero, 0.0)), np.zeros(4))


def gradients(module, x, a, weights):
    """name -> the gradient of `<weights, P(x)> + ||P(x)||^2 / 2` in `x`, for each projection."""
    def loss(t, name):
        p = all_projections(module, t, a, only=(name,))[name]
        return optim.tree.vdot(weights, p) + 0.5 * optim.tree.vdot(p, p)
    return {name: jax.grad(loss)(x, name) for name in P.__all__}


def test_gradients_match_optax():
    # float32 only: one program of 24 gradients; the float64 Jacobian of the simplex is
    # checked in closed form below.
    dtype = "float32"
    with jax.enable_x64(False):
        x, a, weights = random_tree(1, dtype), random_tree(2, dtype), random_tree(3, dtype)
        ours = jax.jit(lambda *args: gradients(P, *args))(x, a, weights)
        theirs = jax.jit(lambda *args: gradients(optax.projections, *args))(x, a, weights)
        for name in P.__all__:
            close(ours[name], theirs[name], 10 * TOL[dtype])


def test_simplex_jacobian_is_the_projection_onto_the_support():
    with jax.enable_x64(True):
        v = jnp.asarray(np.random.default_rng(4).standard_normal(6))
        p = np.asarray(P.projection_simplex(v))
        support = (p > 0).astype(float)
        expected = np.diag(support) - np.outer(support, support) / support.sum()
        np.testing.assert_allclose(jax.jit(jax.jacobian(P.projection_simplex))(v), expected,
                                   atol=1e-12)


def test_traced_arguments_pass_unchecked_under_jit():
    x = random_tree(0, "float32")
    got = jax.jit(P.projection_l1_ball)(x, jnp.float32(1.5))
    close(got, P.projection_l1_ball(x, 1.5), 1e-6)
    lower = jax.tree.map(jnp.zeros_like, x)
    got = jax.jit(P.projection_box)(x, lower, jax.tree.map(jnp.ones_like, x))
    close(got, P.projection_hypercube(x), 0)


def test_bad_arguments_raise_naming_them():
    x = random_tree(0, "float32")
    for name in ("projection_simplex", "projection_l1_ball", "projection_l1_sphere",
                 "projection_l2_ball", "projection_l2_sphere", "projection_linf_ball",
                 "projection_hypercube"):
        with pytest.raises(ValueError, match=r"scale must be in \[0, inf\), got -1"):
            getattr(P, name)(x, -1.0)
    with pytest.raises(ValueError, match="scale must be >= 0 everywhere"):
        P.projection_hypercube(x, jax.tree.map(lambda v: v * 0 - 1, x))
    with pytest.raises(ValueError, match="scale must be a scalar"):
        P.projection_simplex(x, jnp.ones(3))
    with pytest.raises(ValueError, match="lower must be <= upper everywhere"):
        P.projection_box(x, 1.0, 0.5)
    with pytest.raises(ValueError, match="lower must be a tree of the structure of tree"):
        P.projection_box(x, {"w": 0.0}, 1.0)
    a = random_tree(1, "float32")
    with pytest.raises(ValueError, match="a must be a tree of the structure of x"):
        P.projection_hyperplane(x, a["b"], 0.0)
    with pytest.raises(ValueError, match="a must have a nonzero entry"):
        P.projection_halfspace(x, jax.tree.map(jnp.zeros_like, a), 0.0)
    with pytest.raises(ValueError, match="b must be a scalar"):
        P.projection_hyperplane(x, a, jnp.ones(2))
    with pytest.raises(ValueError, match="tree must have at least one entry"):
        P.projection_simplex({})


def test_projected_gradient_descent_reaches_the_minimizer_over_the_simplex():
    """min 0.5 y'Qy - c'y over the probability simplex, y all entries of {"x": (3,), "y": ()}:
    a step of the chain, then the projection, 200 steps in one scan; scipy's SLSQP gives the
    minimizer."""
    rng = np.random.default_rng(7)
    m = rng.standard_normal((4, 4))
    q = m @ m.T / 4 + np.eye(4)
    c = np.array([1.0, 2.0, -1.0, 0.5])
    params = {"x": jnp.full(3, 0.25, jnp.float32), "y": jnp.float32(0.25)}

    def objective(tree):
        y = jnp.concatenate([tree["x"], tree["y"][None]])
        return 0.5 * y @ jnp.asarray(q, jnp.float32) @ y - jnp.asarray(c, jnp.float32) @ y

    tx = optim.chain(optim.sgd(0.1), optim.clip_by_global_norm(1.0))

    def step(carry, _):
        params, state = carry
        updates, state = tx.update(jax.grad(objective)(params), state, params)
        return (P.projection_simplex(optim.apply_updates(params, updates)), state), None

    (found, _), _ = jax.jit(lambda p: jax.lax.scan(step, (p, tx.init(p)), length=200))(params)
    expected = scipy.optimize.minimize(
        lambda y: 0.5 * y @ q @ y - c @ y, np.full(4, 0.25), jac=lambda y: q @ y - c,
        method="SLSQP", bounds=[(0, None)] * 4, options={"ftol": 1e-14},
        constraints=[{"type": "eq", "fun": lambda y: y.sum() - 1}]).x
    np.testing.assert_allclose(flat(found), expected, atol=1e-5)
    assert np.count_nonzero(expected < 1e-8) >= 1  # the constraint is active: not a free minimum
