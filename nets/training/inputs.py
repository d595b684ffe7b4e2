"""What a training loop is given, checked and normalized before anything compiles."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from _descent import validation
from nets import losses as losses_lib
from nets.data import Split

Apply = Callable[[Any, jax.Array], jax.Array]
Loss = Callable[[jax.Array, jax.Array], jax.Array]


def apply_fn_of(model: Any) -> Apply:
    """`model.apply`, or `model` itself when it is the function `apply(params, x)`."""
    if hasattr(model, "apply") and callable(model.apply):
        return model.apply
    if callable(model):
        return model
    raise TypeError(f"model must have an apply(params, x) method or be callable, got {model!r}")


def as_split(data: Any, name: str) -> Split | None:
    """A `Split` from a `Split` or an `(x, y)` pair (None stays None)."""
    if data is None:
        return None
    if isinstance(data, (tuple, list)) and not isinstance(data, Split) and len(data) == 2:
        data = Split(jnp.asarray(data[0]), jnp.asarray(data[1]))
    if not isinstance(data, Split):
        raise TypeError(f"{name} must be a Split or an (x, y) pair, got {type(data).__name__}")
    x_shape, y_shape = jnp.shape(data.x), jnp.shape(data.y)
    if not x_shape or not y_shape or x_shape[0] != y_shape[0]:
        raise ValueError(f"{name}.x and {name}.y must hold as many examples: x has shape "
                         f"{x_shape}, y {y_shape}")
    if x_shape[0] == 0:
        raise ValueError(f"{name} is empty (0 examples)")
    return data


def resolve_metric(metric: Any, split: Split) -> tuple[Callable | None, str | None]:
    """`(metric function, its name)`: `"auto"` is accuracy for integer labels, else none."""
    if metric == "auto":
        labels = split.y.dtype
        if jnp.issubdtype(labels, jnp.integer) or labels == jnp.bool_:
            return losses_lib.accuracy, "accuracy"
        return None, None
    if metric is None:
        return None, None
    return metric, getattr(metric, "__name__", "metric")


def positive_count(name: str, value: Any) -> int | None:
    """None, or a positive integer (epochs, steps, patience)."""
    return None if value is None else validation.integer(name, value, 1)


def positive_number(name: str, value: Any) -> float | None:
    """None, or a positive finite number (a tolerance)."""
    if value is None:
        return None
    validation.positive(name, value)
    return float(value)


def _first_bad(mask: np.ndarray) -> str:
    """Where the first True of `mask` is: its row, and its column for a 2-D array."""
    index = np.argwhere(mask)[0]
    return f"row {index[0]}" + (f", column {index[1]}" if mask.ndim == 2 else "")


def check_split(split: Split, name: str, *, outputs: int | None, targets: str | None) -> None:
    """Check one split on the host before training: a ValueError names the problem and the
    first offending row (and value).

    - `x` and `y` hold as many examples, at least one;
    - the inputs (and real targets) are finite;
    - the targets suit the loss (`targets`, see `nets.losses`): "classes" takes integer labels
      in `[0, outputs)` or rows of `outputs` probabilities; "binary" 0/1 labels or
      probabilities in [0, 1]; "real" any finite number.
    """
    x, y = np.asarray(split.x), np.asarray(split.y)
    if x.ndim < 1 or y.ndim < 1 or x.shape[0] != y.shape[0]:
        raise ValueError(f"{name}.x and {name}.y must hold as many examples: x has "
                         f"{x.shape[0] if x.ndim else 'no'} rows of shape {x.shape}, y "
                         f"{y.shape[0] if y.ndim else 'no'} of shape {y.shape}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} is empty (0 examples)")
    for part, values, what in (("x", x, "the inputs must be finite (impute or drop those "
                                         "examples)"), ("y", y, "the targets must be finite")):
        if np.issubdtype(values.dtype, np.inexact) and not np.isfinite(values).all():
            rows = values.reshape(values.shape[0], -1) if values.ndim > 2 else values
            bad = ~np.isfinite(rows)
            raise ValueError(f"{name}.{part} holds {rows[bad][0]} at {_first_bad(bad)}: {what}")
    integer = np.issubdtype(y.dtype, np.integer) or y.dtype == np.bool_
    if targets == "classes" and outputs is not None:
        _check_classes(x, y, name, outputs, integer)
    if targets == "binary":
        if integer:
            bad = (y != 0) & (y != 1)
            if bad.any():
                i = np.argwhere(bad)[0]
                raise ValueError(f"{name}.y holds the label {y[tuple(i)]} at row {i[0]}; "
                                 "binary labels must be 0 or 1")
        else:
            _probabilities(y, name, rows=False)


def _check_classes(x: np.ndarray, y: np.ndarray, name: str, outputs: int, integer: bool
                   ) -> None:
    classes = max(outputs, 2)  # one output: a binary classifier's logit, labels 0 and 1
    if integer:
        if y.ndim != 1:
            raise ValueError(f"{name}.y: class labels are one per example, shape "
                             f"({x.shape[0]},); got {y.shape}")
        bad = (y < 0) | (y >= classes)
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(f"{name}.y holds the label {y[i]} at row {i}; the model has "
                             f"{outputs} output(s), so labels must be in [0, {classes})")
    elif y.ndim == 2 and outputs > 1:
        if y.shape[1] != outputs:
            raise ValueError(f"{name}.y: probability rows of {y.shape[1]} classes for a model "
                             f"with {outputs} outputs")
        _probabilities(y, name)


def _probabilities(y: np.ndarray, name: str, *, rows: bool = True) -> None:
    bad = (y < 0) | (y > 1)
    if bad.any():
        raise ValueError(f"{name}.y holds {y[bad][0]} at {_first_bad(bad)}: probabilities "
                         "must be in [0, 1]")
    if rows:
        total = y.sum(axis=1)
        off = np.abs(total - 1) > 1e-3
        if off.any():
            i = int(np.argmax(off))
            raise ValueError(f"{name}.y row {i} sums to {total[i]:g}: a row of class "
                             "probabilities must sum to 1")


def model_outputs(apply_fn: Apply, params: Any, x: Any) -> int | None:
    """The width of the model's output for one example (1 for a vector output), found on
    shapes only; None when it cannot be known."""
    try:
        out = jax.eval_shape(apply_fn, params, jnp.asarray(x[:1]))
    except Exception:  # noqa: BLE001 - the model's own errors surface when training starts
        return None
    shape = getattr(out, "shape", ())
    return 1 if len(shape) < 2 else int(shape[-1])


def check_data(apply_fn: Apply, params: Any, loss: Any, splits: dict[str, Split | None]
               ) -> None:
    """`check_split` for each given split, with the loss's targets and the model's width."""
    given = {name: split for name, split in splits.items() if split is not None}
    if not given:
        return
    outputs = model_outputs(apply_fn, params, next(iter(given.values())).x)
    targets = getattr(loss, "targets", None)
    for name, split in given.items():
        check_split(split, name, outputs=outputs, targets=targets)


def all_finite(tree: Any) -> bool:
    """Every leaf of `tree` finite, checked on the host (a jitted check would compile for
    every new params structure)."""
    return all(np.isfinite(np.asarray(leaf, np.float64)).all() for leaf in jax.tree.leaves(tree))
