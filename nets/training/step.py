"""One step of the lectures' minibatch descent, with any gradient transformation.

    J, g = value_and_grad(J)(theta; batch);   u, s = tx.update(g, s, theta);   theta += u
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax

import optim
from nets.training.inputs import Loss, apply_fn_of


def make_objective(model: Any, loss: Loss) -> Callable[[Any, jax.Array, jax.Array], jax.Array]:
    """`J(params, x, y) = loss(model.apply(params, x), y)`."""
    apply_fn = apply_fn_of(model)

    def objective(params, x, y):
        return loss(apply_fn(params, x), y)

    return objective


def update_step(optimizer: Any, objective: Callable, params: Any, state: Any, x, y):
    """One step: `(loss before it, new params, new state)`.

    The optimizer's update gets the keyword extras `value=`, `grad=` and `value_fn=` (for
    reduce-on-plateau, line searches); a transform that does not declare them never sees them.
    """
    value, grads = jax.value_and_grad(objective)(params, x, y)
    extra = {"value": value, "grad": grads, "value_fn": lambda p: objective(p, x, y)}
    updates, new_state = optim.with_extra_args_support(optimizer).update(
        grads, state, params, **extra
    )
    return value, optim.apply_updates(params, updates), new_state


def make_train_step(model: Any, loss: Loss, optimizer: Any, *, donate: bool = True) -> Callable:
    """A jitted `step(params, opt_state, x, y) -> (params, opt_state, loss)`.

    With `donate=True` the params and state passed in are donated (their buffers reused for
    the outputs): do not use them after the call. For a hand-written loop; `fit` scans the
    same step over whole epochs.
    """
    objective = make_objective(model, loss)

    def step(params, opt_state, x, y):
        value, params, opt_state = update_step(optimizer, objective, params, opt_state, x, y)
        return params, opt_state, value

    return jax.jit(step, donate_argnums=(0, 1) if donate else ())
