"""Sharpness-aware minimization (Foret, Kleiner, Mobahi & Neyshabur 2021).

Two calling forms: `sam(optimizer, rho)`, the paper's normalized ascent step of radius rho, and
optax's `sam(optimizer, adv_optimizer, sync_period=2, reset_state=True, ...)`
(`optax.contrib.sam`), whose ascent steps are an optimizer's own; the second argument (a number
or a transform) tells them apart.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

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
from optim.tree import (
    tree_add,
    tree_cast_like,
    tree_copy,
    tree_global_norm,
    tree_sub,
    tree_where,
)


class SAMState(NamedTuple):
    count: jax.Array  # calls to update (two per SAM step in the default two-call mode)
    opt_state: Any
    cache: Any  # the params w during a two-call step (EmptyState in opaque mode)


class AdversarialSAMState(NamedTuple):
    """The state of `sam(optimizer, adv_optimizer)`: optax.contrib's `SAMState` field for
    field."""

    steps_since_sync: jax.Array  # ascent steps since the last descent step
    opt_state: Any
    adv_state: Any
    cache: Any  # the params where the ascent started (None in opaque mode)


def _perturbation(grads: Any, rho: Any, eps: Any) -> Any:
    """`rho * g / ||g||`: the worst-case step of length rho to first order (Eq. 2, p = 2)."""
    factor = rho / (tree_global_norm(grads) + eps)
    return jax.tree.map(lambda g: (factor * g).astype(g.dtype), grads)


def sam(
    optimizer: GradientTransformation,
    rho: ScalarOrSchedule | GradientTransformation = 0.05,
    sync_period: int = 2,
    reset_state: bool = True,
    opaque_mode: bool = False,
    batch_axis_name: str | None = None,
    *,
    adv_optimizer: GradientTransformation | None = None,
    eps: float = 1e-12,
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

    Given an `adv_optimizer` (second argument or keyword), this is optax.contrib's `sam`: see
    `adversarial_sam`; `sync_period`, `reset_state` and `batch_axis_name` are its arguments.
    """
    validation.boolean("opaque_mode", opaque_mode)
    validation.boolean("reset_state", reset_state)
    sync_period = validation.integer("sync_period", sync_period, 1)
    optimizer = as_transform(optimizer, "sam's optimizer")
    if adv_optimizer is not None or (hasattr(rho, "init") and hasattr(rho, "update")):
        if adv_optimizer is not None and rho != 0.05:
            raise TypeError("sam takes rho or adv_optimizer, not both")
        return adversarial_sam(optimizer, adv_optimizer if adv_optimizer is not None else rho,
                               sync_period, reset_state, opaque_mode, batch_axis_name)
    if sync_period != 2 or batch_axis_name is not None:
        raise ValueError(
            "sam(optimizer, rho) makes one ascent step of radius rho: sync_period and "
            "batch_axis_name belong to sam(optimizer, adv_optimizer, ...); got "
            f"sync_period={sync_period!r}, batch_axis_name={batch_axis_name!r}"
        )
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


def adversarial_sam(
    optimizer: GradientTransformation,
    adv_optimizer: GradientTransformation,
    sync_period: int = 2,
    reset_state: bool = True,
    opaque_mode: bool = False,
    batch_axis_name: str | None = None,
) -> GradientTransformation:
    """optax.contrib's SAM: `sync_period - 1` ascent steps of `adv_optimizer`, then one step
    of `optimizer` from where the ascent began, with the gradient where it ended.

        w_0 = w,   w_{i+1} = w_i - adv_optimizer.update(g(w_i))      (i < sync_period - 1)
        w <- w + optimizer.update(g(w_{sync_period - 1}))

    The paper's SAM is `adv_optimizer = chain(normalize, scale(rho))` with sync_period 2. Each
    call is one of those steps (the updates take the params to w_{i+1}, then back to the new w),
    and `reset_state` restarts `adv_optimizer` after each descent. With `opaque_mode=True` one
    call is a whole step and needs `grad_fn=lambda params, i: ...` (the i-th ascent gradient);
    `batch_axis_name` then averages those gradients over a mapped axis (`lax.pmean`).
    """
    optimizer = as_transform(optimizer, "sam's optimizer")
    adv_optimizer = as_transform(adv_optimizer, "sam's adv_optimizer")
    validation.integer("sync_period", sync_period, 1)
    validation.boolean("reset_state", reset_state)
    validation.boolean("opaque_mode", opaque_mode)
    if batch_axis_name is not None and not isinstance(batch_axis_name, str):
        raise TypeError(f"batch_axis_name must be a string or None, got {batch_axis_name!r}")

    def init(params):
        return AdversarialSAMState(step_counter(), optimizer.init(params),
                                   adv_optimizer.init(params), None if opaque_mode else params)

    def transparent(updates, state, params, extra):
        first = state.steps_since_sync == 0
        last = state.steps_since_sync == sync_period - 1
        ascent, adv_state = call_update(adv_optimizer, updates, state.adv_state, params, extra)
        ascent = jax.tree.map(jnp.negative, ascent)
        descent, opt_state = call_update(optimizer, updates, state.opt_state, state.cache, extra)
        descent = jax.tree.map(lambda c, p, u: (c - p + u).astype(u.dtype),
                               state.cache, params, descent)
        restart = adv_optimizer.init(params) if reset_state else state.adv_state
        new_state = AdversarialSAMState(
            (state.steps_since_sync + 1) % sync_period,
            tree_where(last, opt_state, state.opt_state),
            tree_where(last, restart, adv_state),
            tree_where(first, params, state.cache),
        )
        return tree_cast_like(tree_where(last, descent, ascent), updates), new_state

    def opaque(updates, state, params, grad_fn, extra):
        if grad_fn is None:
            raise ValueError("sam(..., opaque_mode=True) needs grad_fn=lambda params, i: grads "
                             "(the gradient at the i-th ascent point)")
        point, grads, adv_state = params, updates, state.adv_state
        for i in range(sync_period - 1):
            ascent, adv_state = call_update(adv_optimizer, grads, adv_state, point, extra)
            point = jax.tree.map(lambda p, a: (p - a).astype(p.dtype), point, ascent)
            grads = tree_cast_like(grad_fn(point, i), updates)
            if batch_axis_name is not None:
                grads = jax.lax.pmean(grads, axis_name=batch_axis_name)
        if reset_state:
            adv_state = adv_optimizer.init(params)
        out, opt_state = call_update(optimizer, grads, state.opt_state, params, extra)
        return out, AdversarialSAMState(step_counter(), opt_state, adv_state, None)

    def update(updates, state, params=None, *, grad_fn: Callable | None = None, **extra):
        check_state(state, AdversarialSAMState, "sam")
        require_params(params, "sam")
        check_updates(updates, params, "params")
        if opaque_mode:
            return opaque(updates, state, params, grad_fn, extra)
        return transparent(updates, state, params, extra)

    return GradientTransformation(init, update)
