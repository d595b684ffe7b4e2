"""MADGRAD (Defazio & Jelassi 2021, "Adaptivity without Compromise: A Momentumized, Adaptive,
Dual Averaged Gradient Method for Stochastic Optimization"): dual averaging with a cube-root
AdaGrad denominator and momentum by averaging the iterates.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from _descent import validation
from optim._core.base import GradientTransformation, ScalarOrSchedule, elementwise
from optim._core.combine import chain
from optim._core.numerics import saturate, saturated_square
from optim._core.precision import moments_like
from optim._core.steps import safe_increment, step_counter, value_at
from optim._core.structure import check_state, check_updates, require_params
from optim.transforms.regularization import add_decayed_weights
from optim.tree import tree_copy, tree_unzip


class MadgradState(NamedTuple):
    count: jax.Array
    grad_sum_sq: Any  # nu_k = sum_i lambda_i g_i**2
    s: Any  # s_k = sum_i lambda_i g_i
    x0: Any  # the params at init


def scale_by_madgrad(
    learning_rate: ScalarOrSchedule,
    momentum: float = 0.9,
    eps: float = 1e-6,
) -> GradientTransformation:
    """MADGRAD (Defazio & Jelassi 2021, Algorithm 1), per entry, step k = 0, 1, ...:

        lambda_k = (learning_rate_k + eps) * sqrt(k + 1)
        s_{k+1}  = s_k + lambda_k g_k               nu_{k+1} = nu_k + lambda_k g_k**2
        z_{k+1}  = x_0 - s_{k+1} / (cbrt(nu_{k+1}) + eps)
        x_{k+1}  = momentum * x_k + (1 - momentum) * z_{k+1},     u_k = x_{k+1} - x_k

    `momentum` is the paper's `1 - c` (c = 0.1). The learning rate is already in the update
    (it is the move to the new params): do not chain a `scale_by_learning_rate`. The `+ eps`
    in lambda_k is optax's (the paper's lambda_k is the learning rate alone); it keeps a zero
    learning rate from dividing 0 by 0. Defaults from the paper and optax. Needs `params`.
    """
    validation.in_range("learning_rate", learning_rate, 0.0)
    validation.fixed_number("momentum", momentum)
    validation.in_range("momentum", momentum, 0.0, 1.0, high_open=True)
    validation.fixed_number("eps", eps)
    validation.positive("eps", eps)

    def init(params):
        return MadgradState(
            step_counter(), moments_like(params), moments_like(params), tree_copy(params)
        )

    def update(updates, state, params=None, **extra):
        check_state(state, MadgradState, "scale_by_madgrad")
        check_updates(updates, state.s, "state.s")
        require_params(params, "scale_by_madgrad")
        lr = value_at(learning_rate, state.count)
        lam = (lr + eps) * jnp.sqrt(state.count + 1.0)

        def one(g, nu, s, x, x0):
            out_dtype, g = g.dtype, g.astype(s.dtype)
            nu = saturate(nu + lam * saturated_square(g)).astype(nu.dtype)
            s = (s + lam * g).astype(s.dtype)
            z = x0 - s / (jnp.cbrt(nu) + eps)
            return ((1 - momentum) * z + momentum * x - x).astype(out_dtype), nu, s

        results = jax.tree.map(one, updates, state.grad_sum_sq, state.s, params, state.x0)
        out, nu, s = tree_unzip(results, updates, 3)
        return out, MadgradState(safe_increment(state.count), nu, s, state.x0)

    return elementwise(GradientTransformation(init, update))


def madgrad(
    learning_rate: ScalarOrSchedule,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    eps: float = 1e-6,
) -> GradientTransformation:
    """MADGRAD: `chain(add_decayed_weights(weight_decay), scale_by_madgrad(learning_rate,
    momentum, eps))`; the weight decay is added to the gradient (an L2 penalty), as optax's."""
    return chain(
        add_decayed_weights(weight_decay),
        scale_by_madgrad(learning_rate, momentum, eps),
    )
