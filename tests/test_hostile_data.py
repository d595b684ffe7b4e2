"""Hostile data: `nets.fit`, `nets.evaluate` and `nets.sweep` check the data on the host before
training, naming the problem and the offending row; a NaN validation loss stops the run."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nets
import optim

MODEL = nets.MLP((64, 16, 10))


@pytest.fixture(scope="module")
def digits():
    return nets.load_digits(seed=0)


@pytest.fixture(scope="module")
def cancer():
    return nets.load_breast_cancer(seed=0)


def fit(data, train, val=None, loss=nets.softmax_cross_entropy, model=MODEL, **kwargs):
    return nets.fit(model, model.init(jax.random.key(0)), loss, optim.sgd(0.1), train, val=val,
                    epochs=1, batch_size=32, **kwargs)


def test_labels_out_of_range_are_named(digits):
    train = nets.Split(digits.train.x, digits.train.y.at[3].set(12))
    with pytest.raises(ValueError, match=r"^train.y holds the label 12 at row 3; the model has "
                                         r"10 output\(s\), so labels must be in \[0, 10\)$"):
        fit(digits, train)
    negative = nets.Split(digits.val.x, digits.val.y.at[0].set(-1))
    with pytest.raises(ValueError, match=r"^val.y holds the label -1 at row 0"):
        fit(digits, digits.train, negative)
    with pytest.raises(ValueError, match=r"^data.y holds the label 10 at row 5"):
        nets.evaluate(MODEL, MODEL.init(jax.random.key(0)), nets.softmax_cross_entropy,
                      nets.Split(digits.test.x, digits.test.y.at[5].set(10)))


def test_lengths_emptiness_and_non_finite_inputs(digits):
    with pytest.raises(ValueError, match=r"^train.x and train.y must hold as many examples: x "
                                         r"has shape \(1257, 64\), y \(1258,\)$"):
        fit(digits, nets.Split(digits.train.x[:-1], digits.train.y))
    with pytest.raises(ValueError, match=r"^val is empty \(0 examples\)$"):
        fit(digits, digits.train, nets.Split(digits.val.x[:0], digits.val.y[:0]))
    with pytest.raises(ValueError, match=r"^train.x holds nan at row 5, column 7: the inputs "
                                         r"must be finite"):
        fit(digits, nets.Split(digits.train.x.at[5, 7].set(jnp.nan), digits.train.y))
    with pytest.raises(ValueError, match=r"^val.x holds inf at row 2, column 0"):
        fit(digits, digits.train, nets.Split(digits.val.x.at[2, 0].set(jnp.inf), digits.val.y))


def test_one_hot_and_binary_targets(digits, cancer):
    one_hot = jax.nn.one_hot(digits.train.y, 10)
    fit(digits, nets.Split(digits.train.x, one_hot))  # rows of probabilities are fine
    with pytest.raises(ValueError, match=r"^train.y row 4 sums to 2: a row of class "
                                         r"probabilities must sum to 1$"):
        fit(digits, nets.Split(digits.train.x, one_hot.at[4, 0].add(1.0).at[4, 1].add(0.0)))
    with pytest.raises(ValueError, match=r"rows of 3 classes for a model with 10 outputs"):
        fit(digits, nets.Split(digits.train.x, jax.nn.one_hot(digits.train.y % 3, 3)))
    binary = nets.MLP((30, 4, 1))
    with pytest.raises(ValueError, match=r"^train.y holds the label 2 at row 0; binary labels "
                                         r"must be 0 or 1$"):
        fit(cancer, nets.Split(cancer.train.x, cancer.train.y.at[0].set(2)),
            loss=nets.binary_cross_entropy, model=binary)
    with pytest.raises(ValueError, match=r"^train.y holds 1.5 at row 1: probabilities must be"):
        soft = cancer.train.y.astype(jnp.float32).at[1].set(1.5)
        fit(cancer, nets.Split(cancer.train.x, soft), loss=nets.binary_cross_entropy,
            model=binary)


def test_regression_targets_must_be_finite():
    data = nets.make_regression(n=200, seed=0)
    model = nets.MLP((data.num_features, 4, 1))
    with pytest.raises(ValueError, match=r"^train.y holds nan at row 3: the targets must be"):
        fit(data, nets.Split(data.train.x, data.train.y.at[3].set(jnp.nan)), loss=nets.l2_loss,
            model=model)


def test_a_sweep_checks_its_splits(digits):
    with pytest.raises(ValueError, match=r"^test.y holds the label 11 at row 0"):
        nets.sweep(MODEL, nets.softmax_cross_entropy, optim.sgd, digits.train, val=digits.val,
                   test=nets.Split(digits.test.x, digits.test.y.at[0].set(11)),
                   grid={"learning_rate": [0.1]}, epochs=1, batch_size=32)


class Overflowing:
    """A model whose outputs overflow on inputs beyond 1000: finite while training on the
    standardized digits (|x| < 40), NaN on a validation split with a large input."""

    def init(self, key):
        return MODEL.init(key)

    def apply(self, params, x):
        logits = MODEL.apply(params, x)
        return logits * jnp.where(jnp.max(jnp.abs(x)) > 1000, jnp.inf, 1.0)


def test_a_nan_validation_loss_stops_the_run(digits):
    val = nets.Split(digits.val.x.at[0, 0].set(5000.0), digits.val.y)
    model = Overflowing()
    with pytest.raises(nets.DivergenceError, match=r"^the validation loss is nan after epoch 0"):
        nets.fit(model, model.init(jax.random.key(0)), nets.softmax_cross_entropy,
                 optim.sgd(0.01), digits.train, val=val, epochs=3, batch_size=32, patience=1)


@pytest.mark.slow
def test_float16_training_reaches_the_float32_accuracy(digits):
    """Adam's moments are float32 for float16 params (optim/_core/precision.py): an MLP trained
    in float16 on the digits is within a point of the float32 run."""
    accuracy = {}
    for dtype in [jnp.float32, jnp.float16]:
        data = nets.load_digits(seed=0, dtype=dtype)
        model = nets.MLP((64, 64, 10), dtype=dtype)
        result = nets.fit(model, model.init(jax.random.key(0)), nets.softmax_cross_entropy,
                          optim.adam(3e-3), data.train, epochs=8, batch_size=32,
                          key=jax.random.key(1))
        assert {leaf.dtype for leaf in jax.tree.leaves(result.params)} == {jnp.dtype(dtype)}
        accuracy[dtype] = nets.evaluate(model, result.params, nets.softmax_cross_entropy,
                                        data.test)["accuracy"]
    assert accuracy[jnp.float32] > 0.95
    assert abs(accuracy[jnp.float16] - accuracy[jnp.float32]) < 0.01, accuracy
    np.testing.assert_array_less(0.94, accuracy[jnp.float16])
