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
    if isinstance(data, Split):
        return data
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return Split(jnp.asarray(data[0]), jnp.asarray(data[1]))
    raise TypeError(f"{name} must be a Split or an (x, y) pair, got {type(data).__name__}")


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


def all_finite(tree: Any) -> bool:
    """Every leaf of `tree` finite, checked on the host (a jitted check would compile for
    every new params structure)."""
    return all(np.isfinite(np.asarray(leaf, np.float64)).all() for leaf in jax.tree.leaves(tree))
