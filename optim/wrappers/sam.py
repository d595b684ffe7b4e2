"""Sharpness-aware minimization (Foret, Kleiner, Mobahi & Neyshabur 2021)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax

from _descent import validation
from optim._core.base import (
    EmptyState,
    GradientTransformation,
    ScalarOrSchedule,
    elementwise_if,
    is_elementwise,
)
from optim._core.combine import call_update
from optim._core.steps import safe_increment, step_counter, value_at
from optim._core.structure import as_transform, check_state, check_updates, require_params
from optim.tree import tree_add, tree_cast_like, tree_copy, tree_global_norm, tree_sub


class SAMState(NamedTuple):
    count: jax.Array  # calls to update (two per SAM step in the default two-call mode)
    opt_state: Any
    cache: Any  # the params w during a two-call step (EmptyState in opaque mode)


def _perturbation(grads: Any, rho: Any, eps: Any) -> Any:
    """`rho * g / ||g||`: the worst-case step of length rho to first order (Eq. 2, p = 2)."""
    factor = rho / (tree_global_norm(grads) + eps)
    return jax.tree.map(lambda g: (factor * g).astype(g.dtype), grads)


def sam(
    optimizer: GradientTransformation,
    rho: ScalarOrSchedule = 0.05,
    *,
    eps: float = 1e-12,
    opaque_mode: bool = False,
) -> GradientTransformation:
    """SAM around a base optimizer: descend with the gradient taken at the worst nearby point.

        eps_t = rho * g(w_t) / ||g(w_t)||                       (Foret et al. 2021, Eq. 2)
        w_{t+1} = w_t + optimizer.update(g(w_t + eps_t))

    Two gradients per step. By default (`opaque_mode=False`, as optax) they come from two
    ordinary calls: the first call returns `eps_t` (the params move to w_t + eps_t), the second,
    given the gradient there, returns `w_t - (w_t + eps_t) + u_t`, so after both the params are
    w_{t+1}; the base optimizer advances once per pair, and loops count two calls per step.
    With `opaque_mode=True` each call is a whole step and needs the gradient function:
    `update(grads, state, params, grad_fn=lambda p: jax.grad(loss)(p, batch))`. rho = 0.05 is
    the paper's default; `eps` guards the division when the gradient is 0.
    """
    validation.boolean("opaque_mode", opaque_mode)
    optimizer = as_transform(optimizer, "sam's optimizer")
    validation.non_negative("rho", rho)
    validation.non_negative("eps", eps)

    def init(params):
        cache = EmptyState() if opaque_mode else tree_copy(params)
        return SAMState(step_counter(), optimizer.init(params), cache)

    def opaque_update(updates, state, params, grad_fn, extra):
        if grad_fn is None:
            raise ValueError(
                "sam(opaque_mode=True) needs the gradient function: "
                "update(grads, state, params, grad_fn=lambda p: jax.grad(loss)(p, batch))"
            )
        shift = _perturbation(updates, value_at(rho, state.count), eps)
        adversarial = tree_cast_like(grad_fn(tree_add(params, shift)), updates)
        out, opt_state = call_update(optimizer, adversarial, state.opt_state, params, extra)
        return out, SAMState(safe_increment(state.count), opt_state, state.cache)

    def update(updates, state, params=None, *, grad_fn: Callable | None = None, **extra):
        check_state(state, SAMState, "sam")
        require_params(params, "sam")
        if opaque_mode:
            return opaque_update(updates, state, params, grad_fn, extra)
        check_updates(updates, state.cache, "state.cache")
        radius = value_at(rho, state.count // 2)

        def ascend(_):
            shift = _perturbation(updates, radius, eps)
            return shift, state.opt_state, tree_cast_like(params, state.cache)

        def descend(_):
            out, opt_state = call_update(optimizer, updates, state.opt_state, state.cache, extra)
            back = tree_add(tree_cast_like(tree_sub(state.cache, params), out), out)
            return tree_cast_like(back, updates), opt_state, state.cache

        out, opt_state, cache = jax.lax.cond(state.count % 2 == 0, ascend, descend, None)
        return out, SAMState(safe_increment(state.count), opt_state, cache)

    return elementwise_if(is_elementwise(optimizer), GradientTransformation(init, update))
