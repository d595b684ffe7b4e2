"""Losses against their NumPy formulas, stability at logits of +-1000, shape checks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference

import nets


@pytest.fixture
def logits():
    return np.random.default_rng(0).normal(scale=2.0, size=(9, 4))


@pytest.fixture
def labels():
    return np.array([0, 3, 1, 2, 2, 0, 1, 3, 3])


def test_l2_loss(x64):
    rng = np.random.default_rng(1)
    f, y = rng.normal(size=(8, 3)), rng.normal(size=(8, 3))
    got = jax.jit(nets.l2_loss)(jnp.asarray(f), jnp.asarray(y))
    np.testing.assert_allclose(float(got), reference.nets_l2_loss(f, y), rtol=1e-13)
    # one output per example, as (n,) or as the model's (n, 1) against (n,) targets
    f1, y1 = f[:, 0], y[:, 0]
    expected = reference.nets_l2_loss(f1[:, None], y1[:, None])
    np.testing.assert_allclose(float(nets.l2_loss(f1, y1)), expected, rtol=1e-13)
    np.testing.assert_allclose(float(nets.l2_loss(f1[:, None], y1)), expected, rtol=1e-13)


def test_l2_loss_gradient_is_the_residual():
    # d/df 1/2 (y - f)^2 = f - y, averaged over the batch: the lectures' backprop start.
    f, y = jnp.array([1.0, 2.0, -1.0]), jnp.array([0.5, 2.5, 1.0])
    np.testing.assert_allclose(jax.grad(nets.l2_loss)(f, y), (f - y) / 3, rtol=1e-6)


@pytest.mark.slow
def test_binary_cross_entropy(x64):
    rng = np.random.default_rng(2)
    z = rng.normal(scale=3.0, size=(10,))
    y = rng.integers(0, 2, size=10)
    expected = reference.nets_binary_cross_entropy(z, y)
    np.testing.assert_allclose(float(jax.jit(nets.binary_cross_entropy)(z, y)), expected,
                               rtol=1e-12)
    np.testing.assert_allclose(float(nets.binary_cross_entropy(z[:, None], y)), expected,
                               rtol=1e-12)
    # soft labels are allowed: the loss is minimal where sigmoid(z) = y
    grid = jnp.linspace(-3, 3, 601)
    values = jax.vmap(lambda t: nets.binary_cross_entropy(jnp.full((1,), t), jnp.full(1, 0.7)))(
        grid
    )
    assert float(jax.nn.sigmoid(grid[jnp.argmin(values)])) == pytest.approx(0.7, abs=0.01)


def test_softmax_cross_entropy_integer_and_one_hot(logits, labels, x64):
    expected = reference.nets_softmax_cross_entropy(logits, labels)
    got = jax.jit(nets.softmax_cross_entropy)(logits, labels)
    np.testing.assert_allclose(float(got), expected, rtol=1e-12)
    one_hot = np.eye(4)[labels]
    np.testing.assert_allclose(float(nets.softmax_cross_entropy(logits, one_hot)), expected,
                               rtol=1e-12)


def test_softmax_cross_entropy_float32(logits, labels):
    got = nets.softmax_cross_entropy(jnp.asarray(logits, jnp.float32), labels)
    assert got.dtype == jnp.float32
    np.testing.assert_allclose(float(got), reference.nets_softmax_cross_entropy(logits, labels),
                               rtol=1e-5)


def test_softmax_cross_entropy_at_initialization_is_log_classes(labels):
    # The lectures' first sanity check: with equal logits the loss is log(C).
    assert float(nets.softmax_cross_entropy(jnp.zeros((9, 4)), labels)) == pytest.approx(
        np.log(4), rel=1e-6
    )


@pytest.mark.slow
def test_multiclass_hinge(logits, labels, x64):
    expected = reference.nets_multiclass_hinge(logits, labels)
    np.testing.assert_allclose(float(jax.jit(nets.multiclass_hinge)(logits, labels)), expected,
                               rtol=1e-12)
    np.testing.assert_allclose(float(nets.multiclass_hinge(logits, np.eye(4)[labels])), expected,
                               rtol=1e-12)
    expected_2 = reference.nets_multiclass_hinge(logits, labels, margin=2.0)
    np.testing.assert_allclose(float(nets.multiclass_hinge(logits, labels, margin=2.0)),
                               expected_2, rtol=1e-12)
    # lecture example: scores (3.2, 5.1, -1.7), true class 0 -> 2.9 + 0 = 2.9
    assert float(nets.multiclass_hinge(jnp.array([[3.2, 5.1, -1.7]]), jnp.array([0]))) == (
        pytest.approx(2.9)
    )


def test_accuracy(logits, labels):
    expected = reference.nets_accuracy(logits, labels)
    assert float(nets.accuracy(logits, labels)) == pytest.approx(expected)
    assert float(nets.accuracy(logits, np.eye(4)[labels])) == pytest.approx(expected)
    assert float(nets.accuracy(logits, np.argmax(logits, 1))) == 1.0
    # binary: logit > 0 predicts class 1, for (n,) and (n, 1) logits
    z, y = jnp.array([2.0, -1.0, 0.5, -3.0]), jnp.array([1, 1, 0, 0])
    assert float(nets.accuracy(z, y)) == 0.5
    assert float(nets.accuracy(z[:, None], y)) == 0.5


@pytest.mark.slow
def test_l2_regularizer(key):
    params = nets.MLP([3, 4, 2]).init(key)
    params = jax.tree.map(lambda p: p + 0.5, params)
    weights = sum(float(np.sum(np.asarray(layer["w"], np.float64) ** 2)) for layer in params)
    biases = sum(float(np.sum(np.asarray(layer["b"], np.float64) ** 2)) for layer in params)
    assert float(nets.l2_regularizer(params)) == pytest.approx(weights, rel=1e-6)
    assert float(nets.l2_regularizer(params, include_biases=True)) == pytest.approx(
        weights + biases, rel=1e-6
    )
    # gradient of lambda * ||W||^2 is 2 lambda W (weight decay)
    grads = jax.grad(nets.l2_regularizer)(params)
    np.testing.assert_allclose(grads[0]["w"], 2 * params[0]["w"], rtol=1e-6)
    np.testing.assert_array_equal(grads[0]["b"], 0.0)


EXTREME = jnp.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 999.0], [0.0, 0.0, -1000.0]])


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_losses_finite_at_extreme_logits(dtype):
    z = EXTREME.astype(dtype)
    labels = jnp.array([1, 0, 2])
    cases = {
        "softmax_cross_entropy": (nets.softmax_cross_entropy, labels, (2000 + 2000 + 1000) / 3),
        "softmax_cross_entropy one-hot": (
            nets.softmax_cross_entropy, jax.nn.one_hot(labels, 3), (2000 + 2000 + 1000) / 3,
        ),
        "multiclass_hinge": (nets.multiclass_hinge, labels, (3002 + 4001 + 2002) / 3),
    }
    for name, (loss, target, expected) in cases.items():
        value, grad = jax.value_and_grad(loss)(z, target)
        assert bool(jnp.isfinite(value)), name
        assert bool(jnp.all(jnp.isfinite(grad))), name
        assert float(value) == pytest.approx(expected, rel=1e-2), name


def test_binary_cross_entropy_finite_at_extreme_logits():
    z = jnp.array([1000.0, -1000.0, 1000.0, -1000.0])
    y = jnp.array([1.0, 0.0, 0.0, 1.0])
    value, grad = jax.value_and_grad(nets.binary_cross_entropy)(z, y)
    # right answers: 0, 0, 1000, 1000 -> mean 500; gradient (sigmoid(z) - y) / n
    assert float(value) == pytest.approx(500.0)
    np.testing.assert_allclose(grad, jnp.array([0.0, 0.0, 0.25, -0.25]), atol=1e-7)


def test_softmax_cross_entropy_matches_numpy_near_overflow(x64):
    # 700 is where a naive exp overflows float64 soon after; log-sum-exp does not care.
    z = np.array([[700.0, 699.0, 650.0]])
    expected = -(700.0 - (700.0 + np.log(1 + np.exp(-1.0) + np.exp(-50.0))))
    np.testing.assert_allclose(float(nets.softmax_cross_entropy(z, np.array([0]))), expected,
                               rtol=1e-12)


def test_shape_mismatches_raise():
    with pytest.raises(ValueError, match=r"\(4, 4\).*\(4,\)|do not match"):
        nets.l2_loss(jnp.zeros((4, 4)), jnp.zeros(4))
    with pytest.raises(ValueError, match="do not match"):
        nets.binary_cross_entropy(jnp.zeros((4, 2)), jnp.zeros(4))
    with pytest.raises(ValueError, match="integer labels of shape"):
        nets.softmax_cross_entropy(jnp.zeros((4, 3)), jnp.zeros((4, 1), jnp.int32))
    with pytest.raises(ValueError, match="one-hot labels"):
        nets.softmax_cross_entropy(jnp.zeros((4, 3)), jnp.zeros((4, 2)))
    with pytest.raises(ValueError, match="batch, classes"):
        nets.softmax_cross_entropy(jnp.zeros(4), jnp.zeros(4, jnp.int32))
    with pytest.raises(ValueError, match="do not match"):
        nets.accuracy(jnp.zeros((4, 3)), jnp.zeros(5, jnp.int32))
