"""Real and synthetic data sets, seeded splits, standardization and shuffled minibatches.

    data = nets.data.load("digits", seed=0)          # train / val / test, standardized
    data.train.x.shape, data.num_classes              # (1149, 64), 10

The real sets are the ones scikit-learn ships with its wheel (no download): the handwritten
digits (1797 images of 8x8 pixels, 10 classes) and the Wisconsin breast-cancer set (569
examples, 30 features, binary). The synthetic ones are a smooth regression problem and the two
interleaved spirals. Splits come from a seeded permutation; standardization is fitted on the
training split only (fitting it on all data leaks the test set's statistics into training).

Minibatches: each epoch draws a fresh permutation with `jax.random.permutation` and cuts it into
batches of `batch_size`. Batch size 1 is SGD in the lectures' strict sense, `batch_size = n` is
batch gradient descent, anything between is minibatch gradient descent. With `drop_last=True`
the `n mod batch_size` examples left over by the permutation are skipped this epoch (another
permutation includes them next epoch).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import DTypeLike

from _descent import validation

Task = Literal["multiclass", "binary", "regression"]


class Split(NamedTuple):
    """Inputs `x` (n, features) and targets `y` (n,) of one split."""

    x: jax.Array
    y: jax.Array

    def __len__(self) -> int:  # the number of examples, not the tuple's two fields
        return int(self.x.shape[0])


@dataclasses.dataclass(frozen=True)
class Dataset:
    """A data set split three ways, with what a model needs to know about it.

    `mean` and `std` are the standardization statistics fitted on `train` (None when the data
    were not standardized); apply them to new inputs as `(x - mean) / std`.
    """

    name: str
    task: Task
    train: Split
    val: Split
    test: Split
    num_features: int
    num_classes: int | None
    mean: np.ndarray | None = None
    std: np.ndarray | None = None

    @property
    def num_outputs(self) -> int:
        """The width of a model's last layer: classes, or 1 for binary and regression."""
        return self.num_classes if self.task == "multiclass" else 1


def split_indices(
    n: int, *, val_fraction: float = 0.1, test_fraction: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Disjoint train / validation / test index arrays covering `range(n)`, from a seeded
    permutation (the same seed gives the same split on every machine)."""
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0 <= value < 1:
            raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    if val_fraction + test_fraction >= 1:
        raise ValueError(
            f"val_fraction + test_fraction must be < 1, got {val_fraction} + {test_fraction}"
        )
    order = np.random.default_rng(seed).permutation(n)
    n_test = int(round(test_fraction * n))
    n_val = int(round(val_fraction * n))
    test, val, train = order[:n_test], order[n_test : n_test + n_val], order[n_test + n_val :]
    return np.sort(train), np.sort(val), np.sort(test)


def fit_standardization(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and standard deviation of `x`; constant features get std 1 (a
    border pixel of the digits is always 0, and must not become a division by zero)."""
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    return mean, np.where(std > 0, std, 1.0)


def make_dataset(
    x: np.ndarray,
    y: np.ndarray,
    *,
    name: str,
    task: Task,
    num_classes: int | None = None,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    seed: int = 0,
    standardize: bool = True,
    dtype: DTypeLike = jnp.float32,
) -> Dataset:
    """Split arrays three ways (seeded) and standardize them with the training statistics."""
    x = np.asarray(x, np.float64)
    y = np.asarray(y)
    if x.ndim != 2 or y.shape != (x.shape[0],):
        raise ValueError(f"expected x (n, features) and y (n,), got {x.shape} and {y.shape}")
    train, val, test = split_indices(
        len(x), val_fraction=val_fraction, test_fraction=test_fraction, seed=seed
    )
    mean = std = None
    if standardize:
        mean, std = fit_standardization(x[train])
        x = (x - mean) / std
    y_dtype = dtype if task == "regression" else jnp.int32

    def part(index: np.ndarray) -> Split:
        return Split(jnp.asarray(x[index], dtype), jnp.asarray(y[index], y_dtype))

    return Dataset(
        name=name,
        task=task,
        train=part(train),
        val=part(val),
        test=part(test),
        num_features=x.shape[1],
        num_classes=num_classes,
        mean=mean,
        std=std,
    )


def load_digits(**kwargs) -> Dataset:
    """scikit-learn's handwritten digits: 1797 examples, 64 pixel features (0-16), 10 classes.

    Keyword arguments go to `make_dataset` (fractions, seed, standardize, dtype).
    """
    from sklearn.datasets import load_digits as sk_load_digits

    x, y = sk_load_digits(return_X_y=True)
    return make_dataset(x, y, name="digits", task="multiclass", num_classes=10, **kwargs)


def load_breast_cancer(**kwargs) -> Dataset:
    """scikit-learn's Wisconsin breast-cancer set: 569 examples, 30 features, binary labels."""
    from sklearn.datasets import load_breast_cancer as sk_load_breast_cancer

    x, y = sk_load_breast_cancer(return_X_y=True)
    return make_dataset(x, y, name="breast_cancer", task="binary", num_classes=2, **kwargs)


def make_regression(
    n: int = 1000, num_features: int = 4, noise: float = 0.1, *, seed: int = 0, **kwargs
) -> Dataset:
    """A smooth nonlinear regression: `y = sum_j sin(2 x_j) + 0.5 x_0 x_1 + noise * e`.

    `x ~ U(-2, 2)^features`, `e ~ N(0, 1)`; the best possible L2 loss is `noise^2 / 2`.
    The same `seed` draws the data and the split.
    """
    if num_features < 2:
        raise ValueError(f"num_features must be >= 2, got {num_features}")
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, size=(n, num_features))
    y = np.sin(2 * x).sum(axis=1) + 0.5 * x[:, 0] * x[:, 1] + noise * rng.standard_normal(n)
    return make_dataset(x, y, name="regression", task="regression", seed=seed, **kwargs)


def make_spirals(n: int = 1000, noise: float = 0.2, *, turns: float = 1.5, seed: int = 0,
                 **kwargs) -> Dataset:
    """Two interleaved spirals in the plane (binary labels), a classic hard case for a linear
    model and an easy one for a small MLP. `noise` is the standard deviation of the jitter."""
    rng = np.random.default_rng(seed)
    half = n // 2
    t = np.sqrt(rng.uniform(0, 1, size=n)) * turns * 2 * np.pi
    labels = (np.arange(n) >= half).astype(np.int64)
    sign = np.where(labels == 1, -1.0, 1.0)
    radius = t / (turns * 2 * np.pi) * 3
    x = np.stack([sign * radius * np.cos(t), sign * radius * np.sin(t)], axis=1)
    x = x + noise * rng.standard_normal(x.shape)
    return make_dataset(x, labels, name="spirals", task="binary", num_classes=2, seed=seed,
                        **kwargs)


DATASETS = {
    "digits": load_digits,
    "breast_cancer": load_breast_cancer,
    "regression": make_regression,
    "spirals": make_spirals,
}


def load(name: str, **kwargs) -> Dataset:
    """A data set by name: `digits`, `breast_cancer`, `regression` or `spirals`."""
    if name not in DATASETS:
        raise ValueError(f"dataset must be one of {sorted(DATASETS)}, got {name!r}")
    return DATASETS[name](**kwargs)


def num_batches(n: int, batch_size: int, *, drop_last: bool = True) -> int:
    """Steps in one epoch over `n` examples."""
    validation.integer("batch_size", batch_size, 1, n)
    full, rest = divmod(n, batch_size)
    return full + (1 if rest and not drop_last else 0)


def epoch_batches(
    key: jax.Array, x: jax.Array, y: jax.Array, batch_size: int, *, shuffle: bool = True
) -> tuple[Split, Split]:
    """One epoch's minibatches as stacked arrays, ready for `lax.scan`; jit-safe.

    Returns `(full, rest)`: `full.x` has shape `(n // batch_size, batch_size, ...)` and `rest`
    holds the `n % batch_size` examples left over (possibly none). A fresh permutation of
    `key` orders the examples (`shuffle=False` keeps their order).
    """
    n = x.shape[0]
    order = jax.random.permutation(key, n) if shuffle else jnp.arange(n)
    full_count = (n // batch_size) * batch_size
    index = order[:full_count].reshape(n // batch_size, batch_size)
    rest = order[full_count:]
    return Split(x[index], y[index]), Split(x[rest], y[rest])


def iterate_minibatches(
    key: jax.Array,
    x: jax.Array,
    y: jax.Array,
    batch_size: int,
    *,
    drop_last: bool = True,
    shuffle: bool = True,
) -> Iterator[Split]:
    """The minibatches of one epoch one at a time, for hand-written Python loops."""
    num_batches(int(x.shape[0]), batch_size, drop_last=drop_last)  # validates batch_size
    full, rest = epoch_batches(key, x, y, batch_size, shuffle=shuffle)
    for i in range(full.x.shape[0]):
        yield Split(full.x[i], full.y[i])
    if not drop_last and rest.x.shape[0]:
        yield rest
