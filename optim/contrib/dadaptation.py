"""Adam with a learning rate that estimates the distance to the solution: D-Adaptation
(Defazio & Mishchenko 2023) and Prodigy (Mishchenko & Defazio 2023).

Both keep a lower bound `d` of `||x_0 - x_*||`, grown from `estim_lr0` by an inner product of
the gradients with how far the params moved; the step is `learning_rate * d` times Adam's
direction, so `learning_rate` stays near 1. The scalars of the state are kept in at least
float32 (`_descent.dtypes.scalar_dtype`), the moments in the params' dtype.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from _descent import validation
from _descent.dtypes import scalar_dtype
from optim._core.base import GradientTransformation, ScalarOrSchedule
from optim._core.precision import moments_like
from optim._core.steps import safe_increment, step_counter, value_at
from optim._core.structure import check_state, check_updates, require_params
from optim.tree import tree_copy, tree_sub, tree_unzip, tree_vdot


def check_betas_pair(betas: Any) -> tuple[Any, Any]:
    """`betas = (beta1, beta2)`, both in [0, 1)."""
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
    validation.fixed_number("betas[0]", betas[0])
    validation.fixed_number("betas[1]", betas[1])
    validation.decay_rate("betas[0]", betas[0])
    validation.decay_rate("betas[1]", betas[1])
    return betas[0], betas[1]


def l1_norm(tree: Any, dtype: Any) -> jax.Array:
    """The sum of the absolute values of all entries, in `dtype`."""
    parts = [jnp.sum(jnp.abs(x.astype(dtype))) for x in jax.tree.leaves(tree)]
    return sum(parts, jnp.zeros((), dtype))


def adam_correction(beta1: Any, beta2: Any, count: jax.Array, dtype: Any) -> jax.Array:
    """Adam's bias correction moved into the step size: `sqrt(1 - b2**t) / (1 - b1**t)`."""
    t = count.astype(dtype)
    return jnp.sqrt(1 - beta2**t) / (1 - beta1**t)


def grown(d: jax.Array, numerator: jax.Array, denominator: jax.Array) -> jax.Array:
    """`max(d, numerator / denominator)`, `d` kept while the denominator is 0 (zero gradients so
    far: 0 / 0 would make the estimate, and every later step, NaN)."""
    safe = jnp.where(denominator > 0, denominator, 1)
    return jnp.where(denominator > 0, jnp.maximum(d, numerator / safe), d)


# --------------------------------------------------------------------------- Prodigy


class ProdigyState(NamedTuple):
    exp_avg: Any  # m, the momentum of d * g
    exp_avg_sq: Any  # v, the second moment of d * g
    grad_sum: Any  # s, the weighted sum of the gradients the estimate divides by
    params0: Any  # x_0
    estim_lr: jax.Array  # d, the distance estimate
    numerator_weighted: jax.Array  # r, the weighted sum of <g_k, x_0 - x_k>
    count: jax.Array


def prodigy(
    learning_rate: ScalarOrSchedule = 1.0,
    betas: tuple[float, float] = (0.9, 0.999),
    beta3: float | None = None,
    eps: float = 1e-8,
    estim_lr0: float = 1e-6,
    estim_lr_coef: float = 1.0,
    weight_decay: float = 0.0,
    safeguard_warmup: bool = False,
) -> GradientTransformation:
    """Prodigy (Mishchenko & Defazio 2023, "Prodigy: An Expeditiously Adaptive Parameter-Free
    Learner", its Adam form), with eta_k = learning_rate_k * sqrt(1 - b2**k) /
    (1 - b1**k) (Adam's bias correction in the step, as optax and the authors' code):

        m_k = b1 m_{k-1} + (1 - b1) d_k g_k          v_k = b2 v_{k-1} + (1 - b2) d_k**2 g_k**2
        r_k = b3 r_{k-1} + eta_k d_k**2 <g_k, x_0 - x_k> / d_0
        s_k = b3 s_{k-1} + eta_k d_k**2 g_k / d_0
        d_{k+1} = max(d_k, estim_lr_coef * r_k / ||s_k||_1)
        u_k = -eta_k d_k (m_k / (sqrt(v_k) + d_k eps) + weight_decay * x_k)

    with d_0 = `estim_lr0`, b3 = `beta3` (sqrt(b2) when None). The paper's factors `(1 - b3)`
    in r and s, and optax's `1 / d_0`, cancel in the ratio. `safeguard_warmup` leaves eta_k
    out of s (the authors' option against a too large d while a schedule warms up). Where
    `||s||_1` is 0 (zero gradients so far) d is kept; optax's estimate is NaN there.
    Defaults from optax and the paper. Needs `params` in `update`.
    """
    beta1, beta2 = check_betas_pair(betas)
    if beta3 is not None:
        validation.fixed_number("beta3", beta3)
        validation.decay_rate("beta3", beta3)
    b3 = beta2**0.5 if beta3 is None else beta3
    validation.in_range("learning_rate", learning_rate, 0.0)
    for name, value in (("eps", eps), ("weight_decay", weight_decay)):
        validation.fixed_number(name, value)
        validation.non_negative(name, value)
    for name, value in (("estim_lr0", estim_lr0), ("estim_lr_coef", estim_lr_coef)):
        validation.fixed_number(name, value)
        validation.positive(name, value)
    validation.boolean("safeguard_warmup", safeguard_warmup)

    def init(params):
        dtype = scalar_dtype(params)
        return ProdigyState(
            moments_like(params), moments_like(params), moments_like(params),
            tree_copy(params), jnp.asarray(estim_lr0, dtype), jnp.zeros((), dtype),
            step_counter(),
        )

    def update(updates, state, params=None, **extra):
        check_state(state, ProdigyState, "prodigy")
        check_updates(updates, state.exp_avg, "state.exp_avg")
        require_params(params, "prodigy")
        dtype = state.estim_lr.dtype
        count = safe_increment(state.count)
        d = state.estim_lr
        eta = value_at(learning_rate, state.count) * adam_correction(beta1, beta2, count, dtype)
        step = (d * eta).astype(dtype)
        moved = tree_vdot(updates, tree_sub(state.params0, params)).astype(dtype)

        def moments(g, m, v, s):
            dg = d * g.astype(m.dtype)
            weight = d if safeguard_warmup else step
            return (
                (beta1 * m + (1 - beta1) * dg).astype(m.dtype),
                (beta2 * v + (1 - beta2) * dg * dg).astype(v.dtype),
                (b3 * s + weight * dg / estim_lr0).astype(s.dtype),
            )

        triples = jax.tree.map(moments, updates, state.exp_avg, state.exp_avg_sq, state.grad_sum)
        m, v, s = tree_unzip(triples, state.exp_avg, 3)
        r = b3 * state.numerator_weighted + (d / estim_lr0) * step * moved
        estimate = grown(d, estim_lr_coef * r, l1_norm(s, dtype))
        out = jax.tree.map(
            lambda g, mk, vk, x: (-step * (mk / (jnp.sqrt(vk) + d * eps) + weight_decay * x)
                                  ).astype(g.dtype),
            updates, m, v, params,
        )
        return out, ProdigyState(m, v, s, state.params0, estimate.astype(dtype),
                                 r.astype(dtype), count)

    return GradientTransformation(init, update)


# --------------------------------------------------------------------------- D-Adaptation


class DAdaptAdamWState(NamedTuple):
    exp_avg: Any  # m, the momentum of d * g
    exp_avg_sq: Any  # v, the second moment of g
    grad_sum: Any  # s, the moving average of d * g
    estim_lr: jax.Array  # d, the distance estimate
    numerator_weighted: jax.Array  # r
    count: jax.Array


def dadapt_adamw(
    learning_rate: ScalarOrSchedule = 1.0,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    estim_lr0: float = 1e-6,
    weight_decay: float = 0.0,
) -> GradientTransformation:
    """D-Adapted AdamW (Defazio & Mishchenko 2023, "Learning-Rate-Free Learning by
    D-Adaptation", its AdamW form), with sb = sqrt(b2), lambda_k = learning_rate_k * d_k *
    sqrt(1 - b2**k) / (1 - b1**k):

        r_k = sb r_{k-1} + (1 - sb) lambda_k <g_k, s_{k-1} / (sqrt(v_{k-1}) + eps)>
        m_k = b1 m_{k-1} + (1 - b1) lambda_k g_k      v_k = b2 v_{k-1} + (1 - b2) g_k**2
        s_k = sb s_{k-1} + (1 - sb) lambda_k g_k
        d_{k+1} = max(d_k, r_k / ((1 - sb) ||s_k||_1))
        u_k = -m_k / (sqrt(v_k) + eps) - weight_decay * lambda_k * x_k

    d_0 = `estim_lr0`. The inner product uses s and v of the previous step, as optax's. Where
    `||s||_1` is 0 d is kept (optax's estimate is NaN). Defaults from optax. Needs `params`
    in `update`.
    """
    beta1, beta2 = check_betas_pair(betas)
    validation.in_range("learning_rate", learning_rate, 0.0)
    for name, value in (("eps", eps), ("weight_decay", weight_decay)):
        validation.fixed_number(name, value)
        validation.non_negative(name, value)
    validation.fixed_number("estim_lr0", estim_lr0)
    validation.positive("estim_lr0", estim_lr0)
    sb = beta2**0.5

    def init(params):
        dtype = scalar_dtype(params)
        return DAdaptAdamWState(
            moments_like(params), moments_like(params), moments_like(params),
            jnp.asarray(estim_lr0, dtype), jnp.zeros((), dtype), step_counter(),
        )

    def update(updates, state, params=None, **extra):
        check_state(state, DAdaptAdamWState, "dadapt_adamw")
        check_updates(updates, state.exp_avg, "state.exp_avg")
        require_params(params, "dadapt_adamw")
        dtype = state.estim_lr.dtype
        count = safe_increment(state.count)
        lam = (state.estim_lr * value_at(learning_rate, state.count)
               * adam_correction(beta1, beta2, count, dtype)).astype(dtype)
        weighted = jax.tree.map(lambda s, v: s / (jnp.sqrt(v) + eps), state.grad_sum,
                                state.exp_avg_sq)
        inner = tree_vdot(updates, weighted).astype(dtype)
        m = jax.tree.map(lambda g, mk: (beta1 * mk + (1 - beta1) * lam * g).astype(mk.dtype),
                         updates, state.exp_avg)
        v = jax.tree.map(lambda g, vk: (beta2 * vk + (1 - beta2) * g * g).astype(vk.dtype),
                         updates, state.exp_avg_sq)
        s = jax.tree.map(lambda g, sk: (sb * sk + (1 - sb) * lam * g).astype(sk.dtype),
                         updates, state.grad_sum)
        r = sb * state.numerator_weighted + (1 - sb) * lam * inner
        estimate = grown(state.estim_lr, r, (1 - sb) * l1_norm(s, dtype))
        out = jax.tree.map(
            lambda g, mk, vk, x: (-weight_decay * lam * x - mk / (jnp.sqrt(vk) + eps)
                                  ).astype(g.dtype),
            updates, m, v, params,
        )
        return out, DAdaptAdamWState(m, v, s, estimate.astype(dtype), r.astype(dtype), count)

    return GradientTransformation(init, update)
