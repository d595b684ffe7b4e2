"""Checks of integer hyperparameters (periods, counts) that also accept injected arrays.

`inject_hyperparams` turns every numeric argument into an array, traced inside `update`; these
checks validate Python integers and concrete integer arrays, and leave tracers alone.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np


def integer_at_least(name: str, value: Any, minimum: int) -> None:
    """Raise `ValueError("name must be an integer >= minimum, got value")` when it is not."""
    if isinstance(value, jax.core.Tracer):
        return
    array = np.asarray(value)
    if (
        isinstance(value, bool)
        or array.ndim != 0
        or not np.issubdtype(array.dtype, np.integer)
        or int(array) < minimum
    ):
        kind = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{name} must be {kind}, got {value!r}")
