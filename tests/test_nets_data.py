"""Data: the bundled sets, seeded disjoint splits, train-only standardization, minibatches."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn import datasets as sk

import nets
from nets import data as data_lib


@pytest.fixture(scope="module")
def digits():
    return nets.load_digits(seed=0)


def _rows(split):
    return {tuple(np.round(np.asarray(r, np.float64), 5)) for r in np.asarray(split.x)}


def test_digits_shapes_and_labels(digits):
    assert digits.task == "multiclass" and digits.num_classes == 10 and digits.num_outputs == 10
    assert digits.num_features == 64
    sizes = [len(digits.train), len(digits.val), len(digits.test)]
    assert sum(sizes) == 1797
    assert sizes[2] == round(0.2 * 1797) and sizes[1] == round(0.1 * 1797)
    assert digits.train.x.dtype == jnp.float32 and digits.train.y.dtype == jnp.int32
    assert set(np.unique(np.asarray(digits.train.y))) == set(range(10))


def test_split_indices_disjoint_covering_and_reproducible():
    train, val, test = nets.split_indices(1797, val_fraction=0.1, test_fraction=0.2, seed=3)
    assert not set(train) & set(val) and not set(train) & set(test) and not set(val) & set(test)
    np.testing.assert_array_equal(np.sort(np.concatenate([train, val, test])), np.arange(1797))
    again = nets.split_indices(1797, val_fraction=0.1, test_fraction=0.2, seed=3)
    for a, b in zip((train, val, test), again, strict=True):
        np.testing.assert_array_equal(a, b)
    other = nets.split_indices(1797, val_fraction=0.1, test_fraction=0.2, seed=4)
    assert not np.array_equal(test, other[2])


def test_loaded_splits_are_disjoint_and_reproducible(digits):
    rows = [_rows(s) for s in (digits.train, digits.val, digits.test)]
    # (the digits contain a few duplicate images, so compare through the index split)
    train, val, test = nets.split_indices(1797, seed=0)
    x, y = sk.load_digits(return_X_y=True)
    np.testing.assert_array_equal(np.asarray(digits.test.y), y[test])
    np.testing.assert_array_equal(np.asarray(digits.val.y), y[val])
    assert len(rows[0]) > 1000
    again = nets.load_digits(seed=0)
    np.testing.assert_array_equal(again.train.x, digits.train.x)
    other = nets.load_digits(seed=1)
    assert not np.array_equal(np.asarray(other.test.y), np.asarray(digits.test.y))


def test_standardization_is_fitted_on_the_training_split_only(digits):
    x, _ = sk.load_digits(return_X_y=True)
    train, val, test = nets.split_indices(1797, seed=0)
    mean, std = x[train].mean(0), x[train].std(0)
    np.testing.assert_allclose(digits.mean, mean)
    np.testing.assert_allclose(digits.std, np.where(std > 0, std, 1.0))
    varying = std > 0
    got = np.asarray(digits.train.x, np.float64)
    np.testing.assert_allclose(got.mean(0), 0.0, atol=1e-5)
    np.testing.assert_allclose(got[:, varying].std(0), 1.0, rtol=1e-4)
    np.testing.assert_array_equal(got[:, ~varying], 0.0)  # constant pixels: no division by 0
    # the test split uses the training statistics, so it is not exactly standardized itself
    expected_test = (x[test] - mean) / np.where(std > 0, std, 1.0)
    np.testing.assert_allclose(np.asarray(digits.test.x), expected_test, rtol=1e-5, atol=1e-5)
    assert np.abs(np.asarray(digits.test.x).mean(0)).max() > 1e-3


def test_unstandardized_and_dtype():
    raw = nets.load_digits(standardize=False, dtype=jnp.bfloat16)
    assert raw.mean is None and raw.train.x.dtype == jnp.bfloat16
    assert float(jnp.max(raw.train.x)) == 16.0


def test_breast_cancer():
    data = nets.load_breast_cancer(seed=0)
    assert data.task == "binary" and data.num_outputs == 1 and data.num_features == 30
    assert len(data.train) + len(data.val) + len(data.test) == 569
    assert set(np.unique(np.asarray(data.train.y))) == {0, 1}


def test_spirals():
    data = nets.make_spirals(400, noise=0.0, seed=0)
    assert data.task == "binary" and data.num_features == 2
    y = np.concatenate([np.asarray(s.y) for s in (data.train, data.val, data.test)])
    assert y.sum() == 200  # balanced
    # the two arms are point reflections of each other: not linearly separable
    x = np.concatenate([np.asarray(s.x) for s in (data.train, data.val, data.test)])
    from sklearn.linear_model import LogisticRegression

    assert LogisticRegression().fit(x, y).score(x, y) < 0.8


def test_regression_noise_floor():
    data = nets.make_regression(2000, num_features=3, noise=0.3, seed=1, standardize=False)
    assert data.task == "regression" and data.num_outputs == 1 and data.train.y.dtype == jnp.float32
    x, y = np.asarray(data.train.x, np.float64), np.asarray(data.train.y, np.float64)
    clean = np.sin(2 * x).sum(1) + 0.5 * x[:, 0] * x[:, 1]
    assert np.std(y - clean) == pytest.approx(0.3, rel=0.1)


def test_load_by_name_and_errors():
    assert nets.load("spirals", n=100).name == "spirals"
    with pytest.raises(ValueError, match="dataset must be one of"):
        nets.load("mnist")
    with pytest.raises(ValueError, match="val_fraction"):
        nets.split_indices(10, val_fraction=1.5)
    with pytest.raises(ValueError, match="< 1"):
        nets.split_indices(10, val_fraction=0.5, test_fraction=0.5)


@pytest.mark.parametrize("n, batch_size, drop_last, expected",
                         [(10, 3, True, 3), (10, 3, False, 4), (10, 1, True, 10),
                          (10, 10, True, 1), (9, 3, False, 3)])
def test_num_batches(n, batch_size, drop_last, expected):
    assert nets.num_batches(n, batch_size, drop_last=drop_last) == expected


@pytest.mark.parametrize("batch_size", [0, 11, 2.5, True])
def test_bad_batch_size(batch_size):
    with pytest.raises(ValueError, match="batch_size"):
        nets.num_batches(10, batch_size)


def test_epoch_batches_are_a_permutation(key):
    x = jnp.arange(10.0)[:, None] * jnp.ones((1, 2))
    y = jnp.arange(10)
    full, rest = nets.epoch_batches(key, x, y, 3)
    assert full.x.shape == (3, 3, 2) and full.y.shape == (3, 3) and rest.y.shape == (1,)
    seen = np.concatenate([np.asarray(full.y).ravel(), np.asarray(rest.y)])
    np.testing.assert_array_equal(np.sort(seen), np.arange(10))
    np.testing.assert_array_equal(np.asarray(full.x)[..., 0], np.asarray(full.y))  # rows kept
    assert not np.array_equal(seen, np.arange(10))  # shuffled
    again, _ = nets.epoch_batches(key, x, y, 3)
    np.testing.assert_array_equal(again.y, full.y)  # same key, same order
    other, _ = nets.epoch_batches(jax.random.fold_in(key, 1), x, y, 3)
    assert not np.array_equal(other.y, full.y)
    ordered, _ = nets.epoch_batches(key, x, y, 5, shuffle=False)
    np.testing.assert_array_equal(ordered.y, np.arange(10).reshape(2, 5))


def test_sgd_and_batch_gd_extremes(key):
    x, y = jnp.ones((6, 2)), jnp.arange(6)
    sgd, _ = nets.epoch_batches(key, x, y, 1)
    gd, _ = nets.epoch_batches(key, x, y, 6)
    assert sgd.y.shape == (6, 1) and gd.y.shape == (1, 6)


def test_iterate_minibatches_drop_last(key):
    x, y = jnp.zeros((10, 1)), jnp.arange(10)
    kept = list(nets.iterate_minibatches(key, x, y, 4))
    assert [len(b.y) for b in kept] == [4, 4]
    every = list(nets.iterate_minibatches(key, x, y, 4, drop_last=False))
    assert [len(b.y) for b in every] == [4, 4, 2]
    np.testing.assert_array_equal(np.sort(np.concatenate([b.y for b in every])), np.arange(10))


def test_make_dataset_validates_shapes():
    with pytest.raises(ValueError, match="expected x"):
        data_lib.make_dataset(np.zeros((5, 2)), np.zeros(4), name="bad", task="regression")
