"""Line searches: backtracking against a NumPy transcription, zoom against the strong Wolfe
conditions and closed-form minimizers, error messages, and use inside chains."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optim
from tests import reference


def rosen_np(x):
    return float(np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2))


def rosen_grad_np(x):
    g = np.zeros_like(x)
    g[:-1] = -400.0 * x[:-1] * (x[1:] - x[:-1] ** 2) - 2.0 * (1.0 - x[:-1])
    g[1:] += 200.0 * (x[1:] - x[:-1] ** 2)
    return g


def rosen(x):
    return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def run_steps(tx, fun, x0, steps):
    """`steps` jitted updates handing value, grad and value_fn to `tx`; the iterates."""

    @jax.jit
    def step(x, state):
        value, grad = jax.value_and_grad(fun)(x)
        updates, state = tx.update(grad, state, x, value=value, grad=grad, value_fn=fun)
        return optim.apply_updates(x, updates), state

    x, state, out = x0, tx.init(x0), [x0]
    for _ in range(steps):
        x, state = step(x, state)
        out.append(x)
    return out, state


@pytest.mark.parametrize(
    "kwargs", [{}, {"decrease_factor": 0.5, "increase_factor": 2.0, "max_learning_rate": 0.5}]
)
def test_backtracking_gd_matches_reference(x64, kwargs):
    x0 = jnp.array([-1.2, 1.0, 0.5])
    tx = optim.chain(optim.sgd(0.01), optim.scale_by_backtracking_linesearch(**kwargs))
    ours, _ = run_steps(tx, rosen, x0, 40)
    expected = reference.backtracking_gd_run(
        rosen_np, rosen_grad_np, np.asarray(x0), 40, learning_rate=0.01, **kwargs
    )
    np.testing.assert_allclose(np.stack(ours), expected, rtol=1e-10, atol=1e-12)
    assert rosen_np(expected[-1]) < rosen_np(expected[0]) / 4


def test_backtracking_armijo_holds_every_step_and_state(x64):
    bowl = optim.landscapes.lecture_quadratic()
    tx = optim.chain(optim.sgd(1.0), optim.scale_by_backtracking_linesearch(store_grad=True))
    xs, state = run_steps(tx, bowl.fn, jnp.array(bowl.start), 30)
    for x, x_next in zip(xs[:-1], xs[1:], strict=True):
        g = jax.grad(bowl.fn)(x)
        step = x_next - x  # = alpha * (-g)
        assert bowl.fn(x_next) <= bowl.fn(x) + 1e-4 * (g @ step) + 1e-15
    ls = optim.get_field(state, "success")
    assert bool(ls)
    np.testing.assert_allclose(optim.get_field(state, "value"), bowl.fn(xs[-1]), rtol=1e-12)
    np.testing.assert_allclose(optim.get_field(state, "grad"), jax.grad(bowl.fn)(xs[-1]), rtol=1e-12)
    assert float(bowl.fn(xs[-1])) < 1e-3 * float(bowl.fn(xs[0]))


def strong_wolfe(value_and_grad, x, d, alpha, c1, c2):
    (phi0, g0), (phi, g) = value_and_grad(x), value_and_grad(x + alpha * d)
    dphi0, dphi = g0 @ d, g @ d
    return bool(phi <= phi0 + c1 * alpha * dphi0) and bool(abs(dphi) <= c2 * abs(dphi0))


@pytest.mark.slow
@pytest.mark.parametrize("c2", [0.9, 0.1])
def test_zoom_finds_strong_wolfe_steps(x64, c2):
    """Random descent directions at random points of several landscapes; each accepted step
    satisfies both strong Wolfe conditions, checked independently."""
    ls = optim.scale_by_zoom_linesearch(curv_rtol=c2, initial_guess_strategy="one")
    update = jax.jit(
        lambda d, x, fun_index: jax.lax.switch(
            fun_index,
            [
                lambda f=f: ls.update(d, ls.init(x), x, value=f(x), grad=jax.grad(f)(x), value_fn=f)
                for f in FUNS
            ],
        )
    )
    rng = np.random.default_rng(0)
    checked = 0
    for index, f in enumerate(FUNS):
        value_and_grad = jax.jit(jax.value_and_grad(f))
        for _ in range(6):
            x = jnp.asarray(rng.uniform(-2, 2, 2))
            g = value_and_grad(x)[1]
            # A descent direction of random length, not the exact gradient.
            d = -(g + 0.3 * jnp.linalg.norm(g) * jnp.asarray(rng.standard_normal(2)))
            if float(g @ d) >= 0:
                d = -g
            d = d * 10.0 ** rng.uniform(-3, 1)
            updates, state = update(d, x, index)
            alpha = float(state.learning_rate)
            assert bool(state.success)
            np.testing.assert_allclose(updates, alpha * d, rtol=1e-12)
            assert strong_wolfe(value_and_grad, x, d, alpha, 1e-4, c2)
            np.testing.assert_allclose(state.value, value_and_grad(x + alpha * d)[0], rtol=1e-12)
            checked += 1
    assert checked == 6 * len(FUNS)


FUNS = [
    rosen,
    optim.landscapes.beale().fn,
    optim.landscapes.himmelblau().fn,
    lambda x: jnp.sum(jnp.cosh(x)) + 0.1 * x[0] * x[1],
]


@pytest.mark.slow
def test_zoom_tight_curvature_finds_exact_minimizer_of_quadratic(x64):
    """With c2 = 1e-6 the step must be the exact line minimizer -g.d / d.A.d of a quadratic."""
    rng = np.random.default_rng(1)
    m = rng.standard_normal((5, 5))
    a = m @ m.T + np.eye(5)
    f = lambda x: 0.5 * x @ (jnp.asarray(a) @ x)
    x = jnp.asarray(rng.standard_normal(5))
    g = jax.grad(f)(x)
    d = -g
    exact = float(-(g @ d) / (d @ (a @ d)))
    ls = optim.scale_by_zoom_linesearch(curv_rtol=1e-6, slope_rtol=1e-7, max_linesearch_steps=60)
    _, state = ls.update(d, ls.init(x), x, value=f(x), grad=g, value_fn=f)
    assert bool(state.success)
    np.testing.assert_allclose(state.learning_rate, exact, rtol=1e-5)


def test_zoom_not_descent_direction_gives_zero_step(x64):
    f, x = rosen, jnp.array([-1.2, 1.0])
    g = jax.grad(f)(x)
    ls = optim.scale_by_zoom_linesearch()
    updates, state = ls.update(g, ls.init(x), x, value=f(x), grad=g, value_fn=f)
    np.testing.assert_array_equal(updates, jnp.zeros(2))
    assert not bool(state.success) and int(state.num_linesearch_steps) == 0


def test_searches_survive_non_finite_trials(x64):
    """f is +inf beyond x = 1: both searches shrink back into the finite region."""
    f = lambda x: jnp.where(x[0] < 1.0, (x[0] - 0.9) ** 2, jnp.inf) + x[1] ** 2
    x = jnp.array([0.0, 0.0])
    g = jax.grad(f)(x)
    d = jnp.array([5.0, 0.0])  # descent: g = (-1.8, 0)
    for ls in [
        optim.scale_by_zoom_linesearch(initial_guess_strategy="one"),
        optim.scale_by_backtracking_linesearch(decrease_factor=0.5),
    ]:
        updates, state = ls.update(d, ls.init(x), x, value=f(x), grad=g, value_fn=f)
        assert bool(state.success)
        new = x + updates
        assert bool(jnp.isfinite(f(new))) and float(f(new)) < float(f(x))


def test_backtracking_failure_gives_zero_step():
    f = lambda x: jnp.sum(x**2)
    x = jnp.array([1.0, -2.0])
    g = jax.grad(f)(x)
    ls = optim.scale_by_backtracking_linesearch(max_backtracking_steps=5)
    updates, state = ls.update(g, ls.init(x), x, value=f(x), grad=g, value_fn=f)  # ascent
    np.testing.assert_array_equal(updates, jnp.zeros(2))
    assert not bool(state.success)
    assert float(state.learning_rate) == pytest.approx(0.8**4)  # the last step size tried


@pytest.mark.parametrize(
    "make",
    [optim.scale_by_backtracking_linesearch, optim.scale_by_zoom_linesearch],
)
def test_missing_extras_are_named(make):
    x = jnp.ones(2)
    ls = make()
    with pytest.raises(TypeError, match="value_fn"):
        ls.update(x, ls.init(x), x, value=1.0, grad=x)
    with pytest.raises(TypeError, match="value, grad, value_fn"):
        ls.update(x, ls.init(x), x)
    with pytest.raises(TypeError, match="params"):
        ls.update(x, ls.init(x), value=1.0, grad=x, value_fn=jnp.sum)
    tx = optim.chain(optim.sgd(0.1), make())
    with pytest.raises(TypeError, match="grad"):
        tx.update(x, tx.init(x), x, value=1.0, value_fn=jnp.sum)


def test_extras_reach_value_fn_and_others_are_ignored(x64):
    """As in optax: extras named like value_fn's parameters are forwarded (a batch)."""

    def loss(w, inputs, targets):
        return jnp.mean((inputs @ w - targets) ** 2)

    rng = np.random.default_rng(0)
    inputs, w_true = jnp.asarray(rng.standard_normal((20, 3))), jnp.array([1.0, -2.0, 0.5])
    targets = inputs @ w_true
    tx = optim.chain(optim.sgd(1.0), optim.scale_by_zoom_linesearch())

    @jax.jit
    def step(w, state, inputs, targets):
        value, grad = jax.value_and_grad(loss)(w, inputs, targets)
        updates, state = tx.update(
            grad, state, w, value=value, grad=grad, value_fn=loss,
            inputs=inputs, targets=targets, unrelated="ignored",
        )
        return optim.apply_updates(w, updates), state

    w, state = jnp.zeros(3), tx.init(jnp.zeros(3))
    for _ in range(30):
        w, state = step(w, state, inputs, targets)
    np.testing.assert_allclose(w, w_true, atol=1e-6)


def test_pytree_float32_jit_no_retrace():
    params = {"a": jnp.array([1.0, -1.0], jnp.float32), "b": [jnp.ones((2, 2), jnp.float32)]}

    def f(p):
        return jnp.sum(p["a"] ** 2) + 3.0 * jnp.sum((p["b"][0] - 0.5) ** 2)

    traces = []
    for ls in [optim.scale_by_zoom_linesearch(), optim.scale_by_backtracking_linesearch()]:
        tx = optim.chain(optim.sgd(0.1), ls)

        @jax.jit
        def step(p, state, tx=tx):
            traces.append(1)
            value, grad = jax.value_and_grad(f)(p)
            updates, state = tx.update(grad, state, p, value=value, grad=grad, value_fn=f)
            return optim.apply_updates(p, updates), state, updates

        p, state = params, tx.init(params)
        before = len(traces)
        for _ in range(25):
            p, state, updates = step(p, state)
        assert len(traces) == before + 1
        assert jax.tree.map(lambda u: u.dtype, updates) == jax.tree.map(lambda u: u.dtype, params)
        assert float(f(p)) < 1e-3 * float(f(params))


@pytest.mark.parametrize(
    "make, kwargs, match",
    [
        (optim.scale_by_backtracking_linesearch, {"max_backtracking_steps": 0}, "max_backtracking_steps"),
        (optim.scale_by_backtracking_linesearch, {"decrease_factor": 1.0}, "decrease_factor"),
        (optim.scale_by_backtracking_linesearch, {"slope_rtol": 0.0}, "slope_rtol"),
        (optim.scale_by_backtracking_linesearch, {"increase_factor": 0.5}, "increase_factor"),
        (optim.scale_by_zoom_linesearch, {"curv_rtol": 1e-5}, "slope_rtol must be smaller"),
        (optim.scale_by_zoom_linesearch, {"max_learning_rate": -1.0}, "max_learning_rate"),
        (optim.scale_by_zoom_linesearch, {"initial_guess_strategy": "two"}, "initial_guess"),
    ],
)
def test_hyperparameters_validated(make, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make(**kwargs)
