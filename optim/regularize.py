"""Regularization inside the optimizer: decoupled weight decay."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax

from optim import validate
from optim.base import GradientTransformation, ScalarOrSchedule
from optim.tree import check_same_structure, safe_increment, step_counter, value_at


class AddDecayedWeightsState(NamedTuple):
    count: jax.Array


def add_decayed_weights(
    weight_decay: ScalarOrSchedule = 0.0,
    mask: Any | Callable[[Any], Any] | None = None,
) -> GradientTransformation:
    """`u <- u + weight_decay * params` on the leaves where `mask` is True (all when None).

    Before a learning-rate scaling this is the gradient of the L2 penalty
    `weight_decay / 2 * ||params||^2`; after Adam's scaling it is decoupled weight decay
    (Loshchilov & Hutter 2019, AdamW). `mask` is a tree of booleans with the params' structure,
    or a function `params -> mask`, e.g. to leave biases undecayed; its leaves are Python
    booleans (the choice is made when the step is traced).
    """
    validate.non_negative("weight_decay", weight_decay)

    def init(params):
        return AddDecayedWeightsState(step_counter())

    def update(updates, state, params=None, **extra):
        if params is None:
            raise ValueError(
                "add_decayed_weights needs the params: call update(grads, state, params)"
            )
        check_same_structure(updates, params, "updates", "params")
        decay = value_at(weight_decay, state.count)
        chosen = mask(params) if callable(mask) else mask
        if chosen is None:
            chosen = jax.tree.map(lambda _: True, params)
        check_same_structure(params, chosen, "params", "mask", shapes=False)
        out = jax.tree.map(
            lambda u, p, m: (u + decay * p).astype(u.dtype) if m else u, updates, params, chosen
        )
        return out, AddDecayedWeightsState(safe_increment(state.count))

    return GradientTransformation(init, update)
