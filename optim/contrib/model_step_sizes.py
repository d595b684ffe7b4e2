"""MoMo and MoMo-Adam: momentum with a Polyak step size from a model of the loss
(Schaipp, Ohana, Eickenberg, Defazio & Gower 2023, "MoMo: Momentum Models for Adaptive
Learning Rates").

Both read the current (batch) loss through `update(grads, state, params, value=loss)`; the
keyword reaches them through `optim.chain` as every extra does.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from _descent import validation
from _descent.dtypes import default_float
from optim._core.base import GradientTransformation, ScalarOrSchedule
from optim._core.steps import safe_increment, step_counter, value_at
from optim._core.structure import check_state, check_updates, require_params
from optim.tree import tree_sum_of_squares, tree_vdot, tree_zeros_like

_TINY = float(jnp.finfo(jnp.float64).eps)  # below this squared norm no step is taken (optax's)


class MomoState(NamedTuple):
    exp_avg: Any
    barf: jax.Array
    gamma: jax.Array
    lb: jax.Array
    count: jax.Array


class MomoAdamState(NamedTuple):
    exp_avg: Any
    exp_avg_sq: Any
    barf: jax.Array
    gamma: jax.Array
    lb: jax.Array
    count: jax.Array


def _lowest_dtype(params: Any) -> Any:
    """The narrowest floating dtype among the params, so the scalars never promote them."""
    dtypes = [jnp.result_type(p) for p in jax.tree.leaves(params)]
    return min(dtypes, key=lambda d: jnp.dtype(d).itemsize) if dtypes else default_float()


def _check_common(learning_rate: Any, lower_bound: Any, weight_decay: Any,
                  adapt_lower_bound: Any) -> None:
    validation.positive("learning_rate", learning_rate)
    validation.fixed_number("lower_bound", lower_bound)
    validation.finite("lower_bound", lower_bound)
    validation.fixed_number("weight_decay", weight_decay)
    validation.non_negative("weight_decay", weight_decay)
    validation.boolean("adapt_lower_bound", adapt_lower_bound)


def _loss(value: Any, who: str) -> Any:
    if value is None:
        raise TypeError(f"{who} needs the loss: call update(grads, state, params, value=loss) "
                        "(jax.value_and_grad gives both)")
    return value


def momo(
    learning_rate: ScalarOrSchedule = 1.0,
    beta: float = 0.9,
    lower_bound: float = 0.0,
    weight_decay: float = 0.0,
    adapt_lower_bound: bool = False,
) -> GradientTransformation:
    """MoMo (Schaipp et al. 2023, Algorithm 1): SGD with momentum and the step size
    `tau_t = min(learning_rate, h_t)` of a Polyak step on a model of the loss.

        d_t = beta d_{t-1} + (1 - beta) g_t           (each EMA starts at its first value)
        f_t = beta f_{t-1} + (1 - beta) loss_t       gam_t = beta gam_{t-1} + (1 - beta) <g_t, x_t>
        h_t = max(0, (1 + lr lam) (f_t - lb - gam_t) + <d_t, x_t>) / ||d_t||^2
        u_t = -(lr lam / (1 + lr lam)) x_t - tau_t d_t

    with `lam = weight_decay` and `lb = lower_bound` (the loss's lower bound; 0 for most
    losses). With `adapt_lower_bound` the bound is re-estimated each step as in the paper's
    MoMo* (Section 5): reset to `max(cap / (2 (1 + lr lam)), lower_bound)` when
    `cap = (1 + lr lam)(f_t - gam_t) + <d_t, x_t>` falls below `(1 + lr lam) lb`, then raised
    to `max(f_t + <d_t, x_t> - gam_t - tau_t ||d_t||^2 / 2, lower_bound)`. No step is taken
    when `||d_t||^2` is below float64's eps. The update is a full step (the learning rate is
    inside it); use it as `optax.contrib.momo`, with `apply_updates`. Needs `params` and
    `value=loss`. As optax 0.2.8 (state fields and their order included).
    """
    validation.decay_rate("beta", beta)
    validation.fixed_number("beta", beta)
    _check_common(learning_rate, lower_bound, weight_decay, adapt_lower_bound)

    def init(params):
        dtype = _lowest_dtype(params)
        # a buffer of its own per field (a step may donate its state)
        return MomoState(tree_zeros_like(params), jnp.zeros([], dtype), jnp.zeros([], dtype),
                         jnp.asarray(lower_bound, dtype), step_counter())

    def update(updates, state, params=None, *, value=None, **extra):
        check_state(state, MomoState, "momo")
        require_params(params, "momo")
        check_updates(updates, state.exp_avg, "state.exp_avg")
        loss = _loss(value, "momo")
        bt = jnp.where(state.count == 0, 0.0, beta).astype(state.barf.dtype)
        barf = bt * state.barf + (1 - bt) * jnp.asarray(loss, state.barf.dtype)
        exp_avg = jax.tree.map(lambda d, g: bt * d + (1 - bt) * g, state.exp_avg, updates)
        gamma = bt * state.gamma + (1 - bt) * tree_vdot(updates, params)
        norm_sq = tree_sum_of_squares(exp_avg)
        inner = tree_vdot(exp_avg, params)
        lr = value_at(learning_rate, state.count)
        shrink = 1 + lr * weight_decay
        lb = state.lb
        if adapt_lower_bound:
            cap = shrink * (barf - gamma) + inner
            lb = jnp.where(cap < shrink * lb, jnp.maximum(cap / (2 * shrink), lower_bound), lb)
        polyak = jnp.maximum(shrink * (barf - lb - gamma) + inner, 0.0) / norm_sq
        polyak = jnp.where(norm_sq <= _TINY, 0.0, polyak)
        tau = jnp.minimum(lr, polyak)
        out = jax.tree.map(
            lambda d, p: (-(lr * weight_decay) / shrink * p - tau * d).astype(p.dtype),
            exp_avg, params)
        new_lb = (jnp.maximum(barf + inner - gamma - 0.5 * tau * norm_sq, lower_bound)
                  if adapt_lower_bound else state.lb)
        return out, MomoState(exp_avg, barf, gamma.astype(barf.dtype),
                              jnp.asarray(new_lb, state.lb.dtype), safe_increment(state.count))

    return GradientTransformation(init, update)


def momo_adam(
    learning_rate: ScalarOrSchedule = 1e-2,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    lower_bound: float = 0.0,
    weight_decay: float = 0.0,
    adapt_lower_bound: bool = False,
) -> GradientTransformation:
    """MoMo-Adam (Schaipp et al. 2023, Algorithm 3): Adam's direction with MoMo's step size.

        d_t = b1 d_{t-1} + (1 - b1) g_t               v_t = b2 v_{t-1} + (1 - b2) g_t^2
        D_t = eps + sqrt(v_t / (1 - b2^t))            (the preconditioner, per entry)
        f_t, gam_t as in `momo` with b1 (from 0, no first-value start);  rho_t = 1 - b1^t
        h_t = max(0, (1 + lr lam)(f_t - rho_t lb - gam_t) + <d_t, x_t>) / <d_t, d_t / D_t>
        tau_t = min(lr / rho_t, h_t)
        u_t = -(lr lam / (1 + lr lam)) x_t - tau_t d_t / D_t

    `adapt_lower_bound` estimates the bound as in `momo`, divided by `rho_t`. Defaults are
    optax 0.2.8's (learning rate 1e-2; its docstring's 1.0 is `momo`'s), as is the whole rule.
    Needs `params` and `value=loss`.
    """
    for name, rate in (("b1", b1), ("b2", b2)):
        validation.fixed_number(name, rate)
        validation.decay_rate(name, rate)
    validation.fixed_number("eps", eps)
    validation.non_negative("eps", eps)
    _check_common(learning_rate, lower_bound, weight_decay, adapt_lower_bound)

    def init(params):
        dtype = _lowest_dtype(params)
        return MomoAdamState(tree_zeros_like(params), tree_zeros_like(params),
                             jnp.zeros([], dtype), jnp.zeros([], dtype),
                             jnp.asarray(lower_bound, dtype), step_counter())

    def update(updates, state, params=None, *, value=None, **extra):
        check_state(state, MomoAdamState, "momo_adam")
        require_params(params, "momo_adam")
        check_updates(updates, state.exp_avg, "state.exp_avg")
        loss = _loss(value, "momo_adam")
        dtype = state.barf.dtype
        count = safe_increment(state.count)
        barf = b1 * state.barf + (1 - b1) * jnp.asarray(loss, dtype)
        exp_avg = jax.tree.map(lambda d, g: b1 * d + (1 - b1) * g, state.exp_avg, updates)
        exp_avg_sq = jax.tree.map(lambda v, g: b2 * v + (1 - b2) * g * g, state.exp_avg_sq,
                                  updates)
        t = count.astype(dtype)
        rho2 = (1 - jnp.asarray(b2, dtype) ** t).astype(dtype)
        precond = jax.tree.map(lambda v: eps + jnp.sqrt(v / rho2), exp_avg_sq)
        weighted = jax.tree.map(lambda d, s: d / s, exp_avg, precond)
        norm_sq = tree_vdot(exp_avg, weighted)
        gamma = b1 * state.gamma + (1 - b1) * tree_vdot(updates, params)
        inner = tree_vdot(exp_avg, params)
        lr = value_at(learning_rate, state.count)
        rho1 = (1 - jnp.asarray(b1, dtype) ** t).astype(dtype)
        shrink = 1 + lr * weight_decay
        lb = state.lb
        if adapt_lower_bound:
            cap = shrink * (barf - gamma) + inner
            lb = jnp.where(cap < shrink * rho1 * lb,
                           jnp.maximum(cap / (2 * rho1 * shrink), lower_bound), lb)
        polyak = jnp.maximum(shrink * (barf - rho1 * lb - gamma) + inner, 0.0) / norm_sq
        polyak = jnp.where(norm_sq <= _TINY, 0.0, polyak)
        tau = jnp.minimum(lr / rho1, polyak)
        out = jax.tree.map(
            lambda w, p: (-(lr * weight_decay) / shrink * p - tau * w).astype(p.dtype),
            weighted, params)
        new_lb = (jnp.maximum((barf + inner - gamma - 0.5 * tau * norm_sq) / rho1, lower_bound)
                  if adapt_lower_bound else state.lb)
        return out, MomoAdamState(exp_avg, exp_avg_sq, barf, gamma.astype(dtype),
                                  jnp.asarray(new_lb, state.lb.dtype), count)

    return GradientTransformation(init, update)
