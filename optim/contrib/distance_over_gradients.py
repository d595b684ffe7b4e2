"""Distance over gradients: DoG (Ivgi, Hinder & Carmon 2023, "DoG is SGD's Best Friend") and
DoWG (Khaled, Mishchenko & Jin 2023, "DoWG Unleashed"), SGD with a step size set from the
distance travelled from the initial params and the sum of the gradients' squared norms.

Norms are taken over the whole tree; the scalars of the state are kept in at least float32
(`_descent.dtypes.scalar_dtype`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from _descent import validation
from _descent.dtypes import scalar_dtype
from optim._core.base import GradientTransformation, ScalarOrSchedule
from optim._core.combine import chain, identity
from optim._core.masks import MaskOrFn
from optim._core.structure import check_state, check_updates, require_params
from optim.transforms.regularization import add_decayed_weights
from optim.transforms.scaling import scale_by_learning_rate
from optim.tree import tree_copy, tree_global_norm, tree_scale, tree_sub, tree_sum_of_squares

INIT_STEPS = ("distance", "learning_rate", "heuristic")


class DoGState(NamedTuple):
    is_init_step: jax.Array  # True before the first step
    init_params: Any  # x_0
    max_dist: jax.Array  # r_t = max(r_eps, max_{i <= t} ||x_i - x_0||)
    sum_sq_norm_grads: jax.Array  # G_t = sum_{i <= t} ||g_i||**2


def check_init_step(init_step: Any) -> tuple[str, float]:
    """`init_step = (kind, value)`: kind one of INIT_STEPS, value a positive number."""
    if not isinstance(init_step, (tuple, list)) or len(init_step) != 2:
        raise ValueError(f"init_step must be a pair (kind, value) with kind one of "
                         f"{', '.join(map(repr, INIT_STEPS))}, got {init_step!r}")
    kind = validation.choice("init_step[0]", init_step[0], INIT_STEPS)
    validation.fixed_number("init_step[1]", init_step[1])
    validation.positive("init_step[1]", init_step[1])
    return kind, init_step[1]


def scale_by_dog(
    init_step: tuple[str, float],
    eps: float = 1e-8,
) -> GradientTransformation:
    """DoG's step size (Ivgi et al. 2023, Algorithm 1):

        r_t   = max(r_{t-1}, ||x_t - x_0||)          G_t = G_{t-1} + ||g_t||**2
        u_t   = r_t / sqrt(G_t + eps) * g_t

    The first movement `r_0` (the paper's r_eps) comes from `init_step = (kind, value)`:
    `("distance", value)`: r_0 = value; `("heuristic", value)`: r_0 = value * (1 + ||x_0||),
    the paper's choice with value = 1e-6; `("learning_rate", value)`: r_0 = 0 and the first
    step size is `value` itself. `eps` inside the root (optax's; the paper has none) keeps a
    zero first gradient finite. Needs `params` in `update`.
    """
    kind, value = check_init_step(init_step)
    validation.fixed_number("eps", eps)
    validation.non_negative("eps", eps)

    def init(params):
        dtype = scalar_dtype(params)
        if kind == "distance":
            r0 = jnp.asarray(value, dtype)
        elif kind == "heuristic":
            r0 = (value * (1 + tree_global_norm(params))).astype(dtype)
        else:
            r0 = jnp.zeros((), dtype)
        return DoGState(jnp.asarray(True), tree_copy(params), r0, jnp.zeros((), dtype))

    def update(updates, state, params=None, **extra):
        check_state(state, DoGState, "scale_by_dog")
        check_updates(updates, state.init_params, "state.init_params")
        require_params(params, "scale_by_dog")
        dtype = state.max_dist.dtype
        dist = tree_global_norm(tree_sub(state.init_params, params)).astype(dtype)
        max_dist = jnp.maximum(state.max_dist, dist)
        total = state.sum_sq_norm_grads + tree_sum_of_squares(updates).astype(dtype)
        rate = max_dist / jnp.sqrt(total + eps)
        if kind == "learning_rate":
            rate = jnp.where(state.is_init_step, jnp.asarray(value, dtype), rate)
        return tree_scale(rate, updates), DoGState(
            jnp.asarray(False), state.init_params, max_dist, total
        )

    return GradientTransformation(init, update)


def dog(
    learning_rate: ScalarOrSchedule = 1.0,
    init_step: tuple[str, float] = ("heuristic", 1e-6),
    eps: float = 1e-8,
    weight_decay: float | None = None,
    mask: MaskOrFn = None,
) -> GradientTransformation:
    """DoG: `chain(add_decayed_weights(weight_decay, mask) if weight_decay is given,
    scale_by_dog(init_step, eps), scale_by_learning_rate(learning_rate))`; the weight decay is
    added to the gradient before DoG sees it, as optax's."""
    return chain(
        identity() if weight_decay is None else add_decayed_weights(weight_decay, mask),
        scale_by_dog(init_step, eps),
        scale_by_learning_rate(learning_rate),
    )


class DoWGState(NamedTuple):
    init_params: Any  # x_0
    weighted_sq_norm_grads: jax.Array  # v_t = sum_{i <= t} rbar_i**2 ||g_i||**2
    estim_sq_dist: jax.Array  # rbar_t**2 = max(rbar_{t-1}**2, ||x_t - x_0||**2)


def scale_by_dowg(
    init_estim_sq_dist: float | None = None,
    eps: float = 1e-4,
) -> GradientTransformation:
    """DoWG's step size (Khaled et al. 2023, Algorithm 1), distances weighted by themselves:

        rbar_t**2 = max(rbar_{t-1}**2, ||x_t - x_0||**2)
        v_t       = v_{t-1} + rbar_t**2 ||g_t||**2
        u_t       = rbar_t**2 / (sqrt(v_t) + eps) * g_t

    `rbar_0**2 = init_estim_sq_dist` (`eps` when None, as optax's); `eps` outside the root is
    optax's (the paper has none). Needs `params` in `update`.
    """
    validation.fixed_number("eps", eps)
    validation.positive("eps", eps)
    if init_estim_sq_dist is not None:
        validation.fixed_number("init_estim_sq_dist", init_estim_sq_dist)
        validation.positive("init_estim_sq_dist", init_estim_sq_dist)
    start = eps if init_estim_sq_dist is None else init_estim_sq_dist

    def init(params):
        dtype = scalar_dtype(params)
        return DoWGState(tree_copy(params), jnp.zeros((), dtype), jnp.asarray(start, dtype))

    def update(updates, state, params=None, **extra):
        check_state(state, DoWGState, "scale_by_dowg")
        check_updates(updates, state.init_params, "state.init_params")
        require_params(params, "scale_by_dowg")
        dtype = state.estim_sq_dist.dtype
        sq_dist = tree_sum_of_squares(tree_sub(state.init_params, params)).astype(dtype)
        estim = jnp.maximum(state.estim_sq_dist, sq_dist)
        weighted = state.weighted_sq_norm_grads + estim * tree_sum_of_squares(updates).astype(
            dtype)
        rate = estim / (jnp.sqrt(weighted) + eps)
        return tree_scale(rate, updates), DoWGState(state.init_params, weighted, estim)

    return GradientTransformation(init, update)


def dowg(
    learning_rate: ScalarOrSchedule = 1.0,
    init_estim_sq_dist: float | None = None,
    eps: float = 1e-4,
    weight_decay: float | None = None,
    mask: MaskOrFn = None,
) -> GradientTransformation:
    """DoWG: `chain(add_decayed_weights(weight_decay, mask) if weight_decay is given,
    scale_by_dowg(init_estim_sq_dist, eps), scale_by_learning_rate(learning_rate))`."""
    return chain(
        identity() if weight_decay is None else add_decayed_weights(weight_decay, mask),
        scale_by_dowg(init_estim_sq_dist, eps),
        scale_by_learning_rate(learning_rate),
    )
