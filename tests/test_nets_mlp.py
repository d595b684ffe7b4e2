"""MLP: params layout, forward pass against NumPy, gradients against finite differences."""

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import pytest
import reference

import nets
from nets import init as initializers
from nets import mlp

ACTIVATIONS = ["sigmoid", "tanh", "relu", "gelu"]


def test_init_layout_and_shapes(key):
    params = mlp.init(key, [5, 7, 3, 2])
    assert isinstance(params, list) and len(params) == 3
    assert [tuple(p["w"].shape) for p in params] == [(5, 7), (7, 3), (3, 2)]
    assert [tuple(p["b"].shape) for p in params] == [(7,), (3,), (2,)]
    for layer in params:
        assert set(layer) == {"w", "b"}
        assert layer["w"].dtype == jnp.float32
        np.testing.assert_array_equal(layer["b"], 0.0)
    # distinct keys per layer: no two weight matrices share draws
    assert not np.allclose(params[0]["w"][:3, :3], params[1]["w"][:3, :3])


@pytest.mark.slow
def test_default_initializer_follows_the_activation(key):
    # He for rectifiers (variance 2 / fan_in), Glorot for saturating units.
    wide = [400, 300, 300]
    relu = mlp.init(key, wide, activation="relu")
    tanh = mlp.init(key, wide, activation="tanh")
    assert float(jnp.var(relu[0]["w"])) == pytest.approx(2 / 400, rel=0.05)
    assert float(jnp.var(tanh[0]["w"])) == pytest.approx(2 / 700, rel=0.05)


def test_initializers_per_layer(key):
    params = mlp.init(
        key, [4, 6, 3], w_init=[initializers.zeros, initializers.normal(1.0)],
        b_init=[initializers.normal(1.0), initializers.zeros],
    )
    np.testing.assert_array_equal(params[0]["w"], 0.0)
    assert float(jnp.std(params[1]["w"])) > 0.1
    assert float(jnp.std(params[0]["b"])) > 0.1
    np.testing.assert_array_equal(params[1]["b"], 0.0)
    with pytest.raises(ValueError, match="2 layers"):
        mlp.init(key, [4, 6, 3], w_init=[initializers.zeros])


@pytest.mark.parametrize("sizes", [[3], [], [3, 0, 2]])
def test_bad_layer_sizes(key, sizes):
    with pytest.raises(ValueError, match="layer_sizes"):
        mlp.init(key, sizes)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_forward_matches_numpy(activation, key, x64):
    params = mlp.init(key, [4, 8, 5, 3], dtype=jnp.float64)
    x = jax.random.normal(jax.random.key(1), (6, 4), jnp.float64)
    expected = reference.nets_mlp_forward(
        [(np.asarray(p["w"]), np.asarray(p["b"])) for p in params], np.asarray(x), activation
    )
    got = jax.jit(lambda p, x: mlp.apply(p, x, activation=activation))(params, x)
    assert got.dtype == jnp.float64
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-12, atol=1e-12)


def test_forward_float32_and_single_example(key):
    params = mlp.init(key, [4, 8, 3])
    x = jax.random.normal(jax.random.key(1), (4,))
    expected = reference.nets_mlp_forward(
        [(np.asarray(p["w"]), np.asarray(p["b"])) for p in params], np.asarray(x), "relu"
    )
    got = mlp.apply(params, x)
    assert got.shape == (3,) and got.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-5, atol=1e-6)


def test_output_activation_and_callable_activation(key):
    params = mlp.init(key, [3, 4, 2])
    x = jnp.ones((2, 3))
    logits = mlp.apply(params, x, activation=jax.nn.relu)
    np.testing.assert_allclose(
        mlp.apply(params, x, output_activation="sigmoid"), jax.nn.sigmoid(logits), rtol=1e-6
    )


def _finite_difference_gradient(f, flat, eps=1e-6):
    grad = np.zeros_like(flat)
    for i in range(flat.size):
        step = np.zeros_like(flat)
        step[i] = eps
        grad[i] = (f(flat + step) - f(flat - step)) / (2 * eps)
    return grad


@pytest.mark.slow
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_gradients_agree_with_finite_differences(activation, key, x64):
    """The lectures' gradient check: central differences on every parameter, float64."""
    params = mlp.init(key, [3, 5, 4, 3], activation=activation, dtype=jnp.float64)
    params = jax.tree.map(lambda b: b + 0.1, params)  # nonzero biases: all paths exercised
    x = jax.random.normal(jax.random.key(1), (7, 3), jnp.float64)
    y = jnp.array([0, 1, 2, 1, 0, 2, 2])
    flat, unravel = jax.flatten_util.ravel_pytree(params)

    @jax.jit
    def loss(flat):
        return nets.softmax_cross_entropy(mlp.apply(unravel(flat), x, activation=activation), y)

    numeric = _finite_difference_gradient(lambda v: float(loss(jnp.asarray(v))), np.asarray(flat))
    analytic = np.asarray(jax.grad(loss)(flat))
    assert flat.size == 3 * 5 + 5 + 5 * 4 + 4 + 4 * 3 + 3
    # relative error as in the lectures' gradient check: |a - n| / max(|a|, |n|)
    scale = np.maximum(np.abs(analytic), np.abs(numeric)).max()
    np.testing.assert_allclose(analytic, numeric, atol=1e-7 * scale + 1e-9, rtol=1e-6)


def test_mlp_description(key):
    model = nets.MLP([4, 6, 2], activation="tanh")
    assert model.layer_sizes == (4, 6, 2)
    hash(model)  # frozen and hashable: usable as a static jit argument and a cache key
    assert model == nets.MLP((4, 6, 2), activation="tanh")
    params = model.init(key)
    expected = mlp.init(key, [4, 6, 2], activation="tanh")
    jax.tree.map(np.testing.assert_array_equal, params, expected)
    x = jnp.ones((3, 4))
    np.testing.assert_array_equal(model.apply(params, x), mlp.apply(params, x, activation="tanh"))
    apply = jax.jit(lambda m, p, x: m.apply(p, x), static_argnums=0)
    np.testing.assert_allclose(apply(model, params, x), model.apply(params, x), rtol=1e-6)


def test_bfloat16_params(key):
    model = nets.MLP([4, 8, 3], dtype=jnp.bfloat16)
    params = model.init(key)
    assert all(leaf.dtype == jnp.bfloat16 for leaf in jax.tree.leaves(params))
    out = model.apply(params, jnp.ones((2, 4), jnp.bfloat16))
    assert out.dtype == jnp.bfloat16 and out.shape == (2, 3)


def test_errors(key):
    with pytest.raises(ValueError, match="activation must be one of"):
        nets.MLP([2, 2], activation="swish")
    with pytest.raises(ValueError, match="activation must be one of"):
        mlp.apply(mlp.init(key, [2, 2]), jnp.ones((1, 2)), activation="nope")
    with pytest.raises(ValueError, match="layer 0 expects 2 inputs"):
        mlp.apply(mlp.init(key, [2, 2]), jnp.ones((1, 3)))


def test_params_are_a_plain_pytree_any_optimizer_can_read(key):
    params = nets.MLP([3, 4, 2]).init(key)
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_leaves_with_path(params)]
    assert paths == ["[0]['b']", "[0]['w']", "[1]['b']", "[1]['w']"]
