"""`value_and_grad_from_state`: reuse the value and gradient a line search already computed.

A zoom (or backtracking) line search evaluates f and its gradient at the point it accepts and
keeps them in its state (`value`, `grad`); the next step needs exactly those. As optax's:

    value_and_grad = optim.value_and_grad_from_state(f)
    value, grad = value_and_grad(params, state=state)
    updates, state = tx.update(grad, state, params, value=value, grad=grad, value_fn=f)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from optim._core.state import find_fields


def _one_field(state: Any, name: str) -> Any:
    found = find_fields(state, name)
    if len(found) != 1:
        where = f"several, at {sorted(found)}" if found else "none"
        raise ValueError(
            f"value_and_grad_from_state needs one field {name!r} in the optimizer state (as a "
            f"line search keeps, e.g. optim.lbfgs()'s); found {where}"
        )
    return next(iter(found.values()))


def value_and_grad_from_state(
    value_fn: Callable[..., Any],
) -> Callable[..., tuple[jax.Array, Any]]:
    """`value_and_grad(params, *args, state, **kwargs)`: the state's `value` and `grad` when
    its value is finite, else `jax.value_and_grad(value_fn)(params, *args, **kwargs)`.

    The state stores f and its gradient at the params the last step reached, so the loop
    evaluates f once per step instead of twice; before the first step (value inf) and after a
    failed search (a non-finite value) they are computed. `lax.cond` chooses, so it jits.
    """
    if not callable(value_fn):
        raise TypeError(f"value_fn must be a function params -> scalar, got {value_fn!r}")

    def value_and_grad(params: Any, *args: Any, state: Any, **kwargs: Any):
        value, grad = _one_field(state, "value"), _one_field(state, "grad")

        def stored(params, args, kwargs):
            return value, jax.tree.map(lambda g, p: g.astype(jnp.result_type(p)), grad, params)

        def computed(params, args, kwargs):
            new_value, new_grad = jax.value_and_grad(value_fn)(params, *args, **kwargs)
            return jnp.asarray(new_value).astype(value.dtype), new_grad

        return jax.lax.cond(jnp.isfinite(value), stored, computed, params, args, kwargs)

    return value_and_grad
