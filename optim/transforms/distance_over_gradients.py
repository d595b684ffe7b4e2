"""DoG, "distance over gradients", in its layer-wise form (Ivgi, Hinder & Carmon 2023, "DoG
is SGD's Best Friend: A Parameter-Free Dynamic Step Size Schedule", L-DoG)."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from _descent import validation
from optim._core.base import GradientTransformation
from optim._core.numerics import saturate
from optim._core.precision import check_state_dtype, moment_dtype
from optim._core.structure import check_state, check_updates, require_params
from optim.tree import tree_cast, tree_copy


class ScaleByDistanceOverGradientsState(NamedTuple):
    max_dist: Any  # per leaf, the largest distance from the initial params so far (a scalar)
    grad_sum_of_squares: Any  # per leaf, the running sum of the squared gradient norms
    init_params: Any  # the params at init, in `param_dtype`


def _norm(x: jax.Array) -> jax.Array:
    return jnp.sqrt(jnp.sum(jnp.square(x)))


def scale_by_distance_over_gradients(
    reps_rel: float = 1e-6,
    eps: float = 1e-8,
    param_dtype: Any = jnp.float32,
    global_scale: float = 1.0,
) -> GradientTransformation:
    """L-DoG's step size, leaf by leaf (Ivgi et al. 2023, Algorithm 1, layer-wise):

        r_t  = max(r_{t-1}, ||x_t - x_0||)          (r_0 = reps_rel * (1 + ||x_0||))
        G_t  = G_{t-1} + ||g_t||**2                  (G_0 = 0)
        u_t  = global_scale * r_t / sqrt(G_t + eps) * g_t

    a direction to be scaled by `-learning_rate` (1.0 for the paper's parameter-free rule).
    Defaults from optax and the paper (reps_rel = 1e-6). The initial params are kept in
    `param_dtype` (float32). Each leaf's `grad_sum_of_squares` is a scalar (optax's is a
    vector of one entry, which turns a scalar leaf's update into a vector). Needs the params.
    """
    validation.fixed_number("reps_rel", reps_rel)
    validation.positive("reps_rel", reps_rel)
    validation.fixed_number("eps", eps)
    validation.non_negative("eps", eps)
    check_state_dtype("param_dtype", param_dtype)
    validation.fixed_number("global_scale", global_scale)
    validation.finite("global_scale", global_scale)

    def init(params):
        return ScaleByDistanceOverGradientsState(
            jax.tree.map(lambda x: (reps_rel * (1 + _norm(x))).astype(moment_dtype(x)), params),
            jax.tree.map(lambda x: jnp.zeros([], moment_dtype(x)), params),
            tree_copy(tree_cast(params, param_dtype)),
        )

    def update(updates, state, params=None, **extra):
        check_state(state, ScaleByDistanceOverGradientsState, "scale_by_distance_over_gradients")
        require_params(params, "scale_by_distance_over_gradients")
        check_updates(updates, params, "params")
        max_dist = jax.tree.map(
            lambda r, x, x0: jnp.maximum(r, _norm(x - x0.astype(x.dtype)).astype(r.dtype)),
            state.max_dist, params, state.init_params,
        )
        sums = jax.tree.map(
            lambda total, g: saturate(total + jnp.sum(jnp.square(g.astype(total.dtype)))),
            state.grad_sum_of_squares, updates,
        )
        out = jax.tree.map(
            lambda g, r, total: (global_scale * r / jnp.sqrt(total + eps) * g).astype(g.dtype),
            updates, max_dist, sums,
        )
        return out, ScaleByDistanceOverGradientsState(max_dist, sums, state.init_params)

    return GradientTransformation(init, update)
