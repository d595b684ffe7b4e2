"""`apply_every`: sum the gradients of k steps and emit the sum on every k-th step.

A transform inside a chain, unlike `MultiSteps` (a wrapper), so the transforms before it in
a chain still step every time; for the exact large-batch step, wrap the optimizer in
`MultiSteps` instead.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from _descent import validation
from optim._core.base import GradientTransformation, elementwise
from optim._core.steps import safe_increment, step_counter
from optim._core.structure import check_state, check_updates
from optim.tree import tree_zeros_like


class ApplyEvery(NamedTuple):
    count: jax.Array  # steps since the last emission, modulo k
    grad_acc: Any  # the sum of the gradients since the last emission (this one included)


def apply_every(k: int = 1) -> GradientTransformation:
    """Accumulate the gradients and apply their sum every `k` steps (optax's `apply_every`).

        c = count mod k
        acc_t = g_t                 where c = 0 (a new window starts)
                acc_{t-1} + g_t     elsewhere
        u_t = acc_t   where c = k - 1,   else 0
        count <- (count + 1) mod k

    The state is named as optax's (`ApplyEvery(count, grad_acc)`). The sum, not the mean: a
    learning rate tuned for one batch wants dividing by k. After an emission the accumulator
    keeps the emitted sum until the next step overwrites it, as optax's.
    """
    k = validation.integer("k", k, 1, concrete=False)

    def init(params):
        return ApplyEvery(step_counter(), tree_zeros_like(params))

    def update(updates, state, params=None, **extra):
        check_state(state, ApplyEvery, "apply_every")
        check_updates(updates, state.grad_acc, "state.grad_acc")
        c = state.count % k
        acc = jax.tree.map(
            lambda g, a: jnp.where(c != 0, a + g, g).astype(a.dtype), updates, state.grad_acc
        )
        out = jax.tree.map(
            lambda g, a: jnp.where(c == k - 1, a, jnp.zeros_like(a)).astype(g.dtype), updates, acc
        )
        return out, ApplyEvery((safe_increment(state.count) % k).astype(jnp.int32), acc)

    return elementwise(GradientTransformation(init, update))
