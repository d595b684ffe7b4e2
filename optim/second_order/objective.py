"""What the second-order transforms and line searches need of the objective.

A line search receives a search direction `d` as its `updates` (already pointing downhill,
e.g. `-learning_rate * g` from `sgd` or `-H g` from a quasi-Newton method) and returns
`alpha * d` for a step size `alpha` it chooses by evaluating the objective along the line

    phi(alpha) = f(params + alpha * d),        phi(0) = value,   phi'(0) = <grad, d>.

Its `update` therefore needs three keyword extras besides `params`, with optax's names:
`value` (f at params), `grad` (the gradient of f at params) and `value_fn` (f itself, called as
`value_fn(params, **kw)` where `kw` are the other extras that `value_fn`'s signature accepts,
e.g. a batch). Newton needs `value_fn` too. `optim.minimize` passes them; in a hand-written loop
pass them yourself:

    updates, state = tx.update(grad, state, params, value=value, grad=grad, value_fn=f)

Calling the update without them raises a TypeError naming the missing ones (a Python check at
trace time, free at run time). The methods work on the flat vector `jax.flatten_util` makes of
the params, in the params' dtype (at least float32).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from _descent import validation
from optim._core.base import Params
from optim._core.structure import check_same_structure, check_updates, require_params
from optim.tree import tree_vdot


def flat_vector(tree: Any, dtype: Any) -> tuple[jax.Array, Callable[[jax.Array], Any]]:
    """`tree` as one vector in `dtype`, and the function that turns such a vector back."""
    flat, unravel = ravel_pytree(tree)
    return flat.astype(dtype), unravel


def check_params(params: Any, updates: Any, name: str) -> None:
    """The params are given and have the updates' structure."""
    require_params(params, name)
    check_updates(updates, params, "params")


def require_extras(transform: str, **given: Any) -> None:
    """Raise a TypeError naming the keyword arguments of `transform`'s update that are None."""
    missing = [name for name, value in given.items() if value is None]
    if missing:
        needed = ", ".join(f"{name}=..." for name in given)
        raise TypeError(
            f"{transform}.update needs the keyword argument(s) {', '.join(missing)} "
            f"(missing). Call it as update(grads, state, params, {needed}), or run it through "
            "optim.minimize, which passes them."
        )


def bind_value_fn(value_fn: Callable[..., Any], extra: dict[str, Any]) -> Callable[[Params], Any]:
    """`value_fn` as a function of params only, given the extras its signature accepts.

    As in optax, extras named like `value_fn`'s keyword parameters (a batch `x=`, `y=`, ...)
    are forwarded to it; the others are meant for other transforms of a chain and are ignored,
    and so are the line-search keywords themselves (`value`, `grad`, `value_fn`).
    """
    extra = {k: v for k, v in extra.items() if k not in ("value", "grad", "value_fn")}
    try:
        parameters = list(inspect.signature(value_fn).parameters.values())
    except (TypeError, ValueError):
        return value_fn
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        kwargs = dict(extra)
    else:
        names = {
            p.name
            for p in parameters[1:]
            if p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        }
        kwargs = {k: v for k, v in extra.items() if k in names}
    return functools.partial(value_fn, **kwargs) if kwargs else value_fn


def scalar_value(value: Any, dtype: Any, where: str) -> jax.Array:
    value = jnp.asarray(value)
    if value.ndim != 0:
        raise ValueError(f"{where}: value must be a scalar, got shape {value.shape}")
    return value.astype(dtype)

def start_search(name, updates, params, value, grad, value_fn, extra, dtype):
    """What both line searches check and compute first: the objective, f(x) and the slope g.d."""
    require_params(params, name)
    require_extras(name, value=value, grad=grad, value_fn=value_fn)
    check_updates(updates, params, "params")
    check_same_structure(grad, params, "grad", "params")
    fn = bind_value_fn(value_fn, extra)
    return fn, scalar_value(value, dtype, name), tree_vdot(grad, updates).astype(dtype)



def check_increase_factor(increase_factor: float) -> None:
    # math.inf is allowed: it means "start at max_learning_rate every time".
    validation.in_range("increase_factor", increase_factor, 1.0, allow_infinite=True)
