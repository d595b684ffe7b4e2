"""Regularization inside the optimizer: decoupled weight decay."""

from __future__ import annotations

from typing import NamedTuple

import jax

from _descent import validation
from optim._core.base import GradientTransformation, ScalarOrSchedule, elementwise_if
from optim._core.masks import MaskOrFn, check_mask, resolve_mask
from optim._core.steps import safe_increment, step_counter, value_at
from optim._core.structure import check_state, check_updates, require_params


class AddDecayedWeightsState(NamedTuple):
    count: jax.Array


def add_decayed_weights(
    weight_decay: ScalarOrSchedule = 0.0, mask: MaskOrFn = None
) -> GradientTransformation:
    """`u <- u + weight_decay * params` on the leaves where `mask` is True (all when None).

    Before a learning-rate scaling this is the gradient of the L2 penalty
    `weight_decay / 2 * ||params||^2`; after Adam's scaling it is decoupled weight decay
    (Loshchilov & Hutter 2019, AdamW). `mask` is a tree of Python booleans with the params'
    structure or a prefix of it (`{"encoder": False, "head": True}`), or a function
    `params -> mask`, e.g. to leave biases undecayed; the choice is made when the step is
    traced.
    """
    validation.non_negative("weight_decay", weight_decay)
    check_mask(mask)

    def init(params):
        return AddDecayedWeightsState(step_counter())

    def update(updates, state, params=None, **extra):
        check_state(state, AddDecayedWeightsState, "add_decayed_weights")
        require_params(params, "add_decayed_weights")
        check_updates(updates, params, "params")
        decay = value_at(weight_decay, state.count)
        chosen = resolve_mask(mask, params)
        leaves, treedef = jax.tree.flatten(updates)
        out = [
            (u + decay * p).astype(u.dtype) if m else u
            for u, p, m in zip(leaves, jax.tree.leaves(params), chosen, strict=True)
        ]
        return treedef.unflatten(out), AddDecayedWeightsState(safe_increment(state.count))

    return elementwise_if(mask is None, GradientTransformation(init, update))
