"""optax's linear algebra (power_iteration, matrix_inverse_pth_root, nnls), multi_normal,
microbatching and the zoom line search's info, against scipy, optax and closed forms."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import scipy.linalg
import scipy.optimize
import scipy.stats

import optim
from optim import microbatching as mb


def spd(n, seed=0, low=0.5, high=4.0):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    return (q * np.linspace(low, high, n)) @ q.T


# power_iteration


def test_power_iteration_matrix_matches_eigh_and_optax():
    a = spd(5, high=6.0)
    value, vector = optim.power_iteration(jnp.asarray(a, jnp.float32))
    w, v = np.linalg.eigh(a)
    np.testing.assert_allclose(value, w[-1], rtol=1e-5)
    np.testing.assert_allclose(abs(np.asarray(vector) @ v[:, -1]), 1.0, rtol=1e-5)
    theirs, _ = optax.power_iteration(jnp.asarray(a, jnp.float32))
    np.testing.assert_allclose(value, theirs, rtol=1e-6)


def test_power_iteration_on_a_pytree_function_gives_the_negative_dominant_eigenvalue(x64):
    # A block diagonal operator on {"a": (2,), "b": (3,)}, its dominant eigenvalue -5.
    da, db = np.array([1.0, -5.0]), np.array([2.0, 0.5, 3.0])

    def mvp(v):
        return {"a": da * v["a"], "b": db * v["b"]}

    v0 = {"a": jnp.ones(2), "b": jnp.ones(3)}
    value, vector = jax.jit(lambda v: optim.power_iteration(mvp, v0=v, num_iters=200))(v0)
    np.testing.assert_allclose(value, -5.0, rtol=1e-6)
    np.testing.assert_allclose(abs(vector["a"][1]), 1.0, rtol=1e-6)
    theirs, _ = optax.power_iteration(mvp, v0=v0, num_iters=200)
    np.testing.assert_allclose(value, theirs, rtol=1e-8)


def test_power_iteration_errors():
    with pytest.raises(ValueError, match="v0"):
        optim.power_iteration(lambda v: v)
    with pytest.raises(ValueError, match=r"square matrix, got shape \(2, 3\)"):
        optim.power_iteration(jnp.ones((2, 3)))


def test_analysis_power_iteration_shares_the_iteration():
    a = jnp.asarray(spd(4, seed=1), jnp.float32)
    result = optim.analysis.power_iteration(lambda x: 0.5 * x @ a @ x, jnp.ones(4))
    np.testing.assert_allclose(result.eigenvalue, np.linalg.eigvalsh(np.asarray(a))[-1],
                               rtol=1e-5)


# matrix_inverse_pth_root


@pytest.mark.parametrize("p", [1, 2, 3, 4])
def test_matrix_inverse_pth_root_matches_scipy(x64, p):
    a = spd(4, seed=p)
    root, error = optim.matrix_inverse_pth_root(jnp.asarray(a), p, ridge_epsilon=0.0,
                                                error_tolerance=1e-10)
    expected = scipy.linalg.fractional_matrix_power(a, -1.0 / p).real
    np.testing.assert_allclose(root, expected, rtol=1e-7, atol=1e-9)
    assert error < 1e-8
    if p in (1, 2, 4):  # optax's handles powers of two
        theirs, _ = optax.matrix_inverse_pth_root(jnp.asarray(a), p, ridge_epsilon=0.0,
                                                  error_tolerance=1e-10)
        np.testing.assert_allclose(root, theirs, rtol=1e-7, atol=1e-9)


def test_matrix_inverse_pth_root_ridge_and_one_by_one():
    a = jnp.asarray(spd(3, seed=5), jnp.float32)
    root, _ = jax.jit(lambda m: optim.matrix_inverse_pth_root(m, 4))(a)
    theirs, _ = optax.matrix_inverse_pth_root(a, 4)
    np.testing.assert_allclose(root, theirs, rtol=1e-5)
    root1, error1 = optim.matrix_inverse_pth_root(jnp.array([[4.0]]), 2, ridge_epsilon=0.0)
    np.testing.assert_allclose(root1, [[0.5]], rtol=1e-6)
    assert error1 == 0


def test_matrix_inverse_pth_root_errors():
    with pytest.raises(ValueError, match="p must be a positive integer, got 0"):
        optim.matrix_inverse_pth_root(jnp.eye(2), 0)
    with pytest.raises(ValueError, match="square matrix"):
        optim.matrix_inverse_pth_root(jnp.ones((2, 3)), 2)


# nnls


def test_nnls_matches_scipy_and_optax(x64):
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(8, 4)), rng.normal(size=8)
    x = jax.jit(lambda a, b: optim.nnls(a, b, 2000))(jnp.asarray(a), jnp.asarray(b))
    expected, _ = scipy.optimize.nnls(a, b)
    np.testing.assert_allclose(x, expected, atol=1e-8)
    assert (np.asarray(x) >= 0).all()
    np.testing.assert_allclose(x, optax.nnls(jnp.asarray(a), jnp.asarray(b), 2000), atol=1e-12)


def test_nnls_several_right_hand_sides_and_given_bound():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(6, 3)), rng.normal(size=(6, 2))
    bound = float(np.linalg.eigvalsh(a.T @ a)[-1])
    x = optim.nnls(jnp.asarray(a, jnp.float32), jnp.asarray(b, jnp.float32), 1000, unroll=2,
                   L=bound)
    assert x.shape == (3, 2)
    for k in range(2):
        np.testing.assert_allclose(x[:, k], scipy.optimize.nnls(a, b[:, k])[0], atol=1e-4)


def test_nnls_errors():
    with pytest.raises(ValueError, match=r"A to be a matrix"):
        optim.nnls(jnp.ones(3), jnp.ones(3), 10)
    with pytest.raises(ValueError, match=r"M = A.shape\[0\] = 3, got shape \(4,\)"):
        optim.nnls(jnp.ones((3, 2)), jnp.ones(4), 10)
    with pytest.raises(ValueError, match="iters must be an integer >= 0, got -1"):
        optim.nnls(jnp.ones((3, 2)), jnp.ones(3), -1)


# multi_normal


def test_multi_normal_log_prob_and_sample(key):
    loc, log_scale = jnp.array([[0.5, -1.0, 2.0]]), jnp.array([0.1, -0.3, 0.7])
    dist = optim.multi_normal(loc, log_scale)
    x = jnp.array([[[0.0, 1.0, 2.0]], [[1.0, -1.0, -2.0]]])  # a batch of 2, params (1, 3)
    expected = scipy.stats.norm.logpdf(np.asarray(x), np.asarray(loc),
                                       np.exp(np.asarray(log_scale))).sum(axis=(1, 2))
    np.testing.assert_allclose(dist.log_prob(x), expected, rtol=1e-6)
    with jax.numpy_rank_promotion("allow"):  # optax's broadcasts implicitly
        theirs = optax.multi_normal(loc, log_scale).log_prob(x)
    np.testing.assert_allclose(dist.log_prob(x), theirs, rtol=1e-6)
    samples = dist.sample((4000,), key)
    assert samples.shape == (4000, 1, 3)
    np.testing.assert_allclose(samples.mean(0), loc, atol=0.1)
    np.testing.assert_allclose(samples.std(0)[0], np.exp(log_scale), rtol=0.05)
    assert dist.params[0] is loc and dist.log_scale is log_scale


def test_multi_normal_shapes_must_broadcast():
    with pytest.raises(ValueError, match=r"broadcastable shapes, got \(2,\) and \(3,\)"):
        optim.multi_normal(jnp.zeros(2), jnp.zeros(3))


# zoom line search info


def zoom_infos(module, fun, x0, steps=8):
    tx = module.lbfgs()
    value_and_grad = jax.value_and_grad(fun)

    def step(carry, _):
        x, state = carry
        value, grad = value_and_grad(x)
        updates, state = tx.update(grad, state, x, value=value, grad=grad, value_fn=fun)
        x = module.apply_updates(x, updates)
        info = module.tree.get(state, "info")
        return (x, state), info

    _, infos = jax.jit(lambda x: jax.lax.scan(step, (x, tx.init(x)), length=steps))(x0)
    return infos


@pytest.mark.parametrize("problem", ["quadratic", "rosenbrock"])
def test_zoom_info_matches_optax(x64, problem):
    if problem == "quadratic":
        a = jnp.asarray(spd(3, seed=2))
        fun, x0 = (lambda x: 0.5 * x @ a @ x), jnp.array([1.0, -2.0, 0.5])
    else:
        fun = lambda x: (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2  # noqa: E731
        x0 = jnp.array([-1.2, 1.0])
    ours, theirs = zoom_infos(optim, fun, x0), zoom_infos(optax, fun, x0)
    assert isinstance(ours, optim.ZoomLinesearchInfo)
    np.testing.assert_array_equal(ours.num_linesearch_steps, theirs.num_linesearch_steps)
    np.testing.assert_allclose(ours.decrease_error, theirs.decrease_error, atol=1e-12)
    np.testing.assert_allclose(ours.curvature_error, theirs.curvature_error, atol=1e-12)


def test_zoom_info_starts_unknown():
    state = optim.scale_by_zoom_linesearch().init(jnp.zeros(2))
    assert state.info.num_linesearch_steps == 0
    assert jnp.isinf(state.info.decrease_error) and jnp.isinf(state.info.curvature_error)


# microbatching


def test_microbatch_matches_the_whole_batch_and_optax():
    def fun(w, x, *, y, scale):
        out = x @ w - y
        return {"rows": out, "sum": jnp.sum(out**2) * scale, "mean": jnp.mean(out)}

    w = jnp.arange(6.0).reshape(3, 2) / 5
    x = jnp.arange(24.0).reshape(8, 3) / 10
    y = jnp.arange(16.0).reshape(8, 2) / 7
    strategy = {"rows": mb.AccumulationType.CONCAT, "sum": mb.AccumulationType.SUM,
                "mean": mb.AccumulationType.MEAN}
    ours = jax.jit(optim.microbatch(fun, argnums=1, microbatch_size=2, accumulator=strategy,
                                    argnames="y"))(w, x, y=y, scale=2.0)
    whole = fun(w, x, y=y, scale=2.0)
    for name in whole:
        np.testing.assert_allclose(ours[name], whole[name], rtol=1e-6)
    theirs = optax.microbatch(fun, argnums=1, microbatch_size=2, accumulator={
        "rows": optax.microbatching.AccumulationType.CONCAT,
        "sum": optax.microbatching.AccumulationType.SUM,
        "mean": optax.microbatching.AccumulationType.MEAN,
    }, argnames="y")(w, x, y=y, scale=2.0)
    for name in whole:
        np.testing.assert_allclose(ours[name], theirs[name], rtol=1e-6)
    assert optim.microbatch(fun, 1, None) is fun


def test_microbatch_running_mean_stops_early_and_custom_accumulator():
    x = jnp.arange(12.0).reshape(6, 2)
    running = optim.microbatch(jnp.mean, 0, 2, mb.AccumulationType.RUNNING_MEAN,
                               num_real_microbatches=jnp.asarray(2))
    # Rows 0,3 then 1,4 (column-major microbatches), the mean of the two microbatches' means.
    np.testing.assert_allclose(running(x), np.mean(np.asarray(x)[[0, 3, 1, 4]]), rtol=1e-6)
    maximum = mb.Accumulator(
        init=lambda s: jnp.full(s.shape, -jnp.inf, s.dtype),
        update=lambda c, v, i: jnp.maximum(c, v),
        finalize=lambda c: c,
        aggregate=lambda v: jnp.max(v, axis=0),
    )
    # Microbatches rows 0, 2, 4 (sum 27) and rows 1, 3, 5 (sum 39).
    np.testing.assert_allclose(optim.microbatch(jnp.sum, 0, 3, maximum)(x), 39.0)


def test_reshape_batch_axis_is_column_major():
    x = jnp.arange(12).reshape(2, 6)
    np.testing.assert_array_equal(mb.reshape_batch_axis(x, 2, axis=1)[0],
                                  [[0, 3], [1, 4], [2, 5]])


def test_micro_vmap_and_micro_grad_match_optax():
    f = lambda a, x: jnp.sin(a * x) + a  # noqa: E731
    x = jnp.linspace(0.0, 1.0, 8)
    np.testing.assert_allclose(mb.micro_vmap(f, in_axes=(None, 0), microbatch_size=4)(2.0, x),
                               jax.vmap(f, (None, 0))(2.0, x), rtol=1e-6)

    def loss(params, features, targets):
        return 0.5 * jnp.mean((features @ params - targets) ** 2)

    args = (jnp.array([0.5]), jnp.ones((4, 1)), jnp.array([0.0, 2.0, 4.0, 6.0]))
    kw = dict(argnums=0, batch_argnums=(1, 2), microbatch_size=2,
              transform_fn=lambda g: (g, g**2), metrics_fn=jnp.linalg.norm)
    (g, g2), aux = mb.micro_grad(loss, accumulator=mb.AccumulationType.MEAN, **kw)(*args)
    (tg, tg2), taux = optax.microbatching.micro_grad(
        loss, accumulator=optax.microbatching.AccumulationType.MEAN, **kw)(*args)
    np.testing.assert_allclose(g, tg, rtol=1e-6)
    np.testing.assert_allclose(g2, tg2, rtol=1e-6)
    np.testing.assert_allclose(aux.values, taux.values, rtol=1e-6)
    np.testing.assert_allclose(aux.metrics, taux.metrics, rtol=1e-6)
    # The mean of the per-example gradients is the whole batch's gradient.
    np.testing.assert_allclose(g, jax.grad(loss)(*args), rtol=1e-6)


def test_microbatch_errors():
    f = optim.microbatch(jnp.sum, argnums=(0, 1), microbatch_size=2)
    with pytest.raises(ValueError, match="one size"):
        f(jnp.ones(4), jnp.ones(6))
    with pytest.raises(ValueError, match=r"batch size \(5\) must be a multiple"):
        optim.microbatch(jnp.sum, 0, 2)(jnp.ones(5))
    with pytest.raises(ValueError, match="microbatch_size must be a positive integer, got 0"):
        optim.microbatch(jnp.sum, 0, 0)
    with pytest.raises(ValueError, match="floating-point"):
        optim.microbatch(jnp.sum, 0, 2, mb.AccumulationType.MEAN)(jnp.arange(4))
    with pytest.raises(ValueError, match="accumulator must be"):
        optim.microbatch(jnp.sum, 0, 2, "sum")(jnp.ones(4))
