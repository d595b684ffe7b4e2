"""Scaling by norms: each leaf's update by its param's norm, the whole update to a fixed norm
(normalized gradient descent), and Fromage's shrinking of the params."""

from __future__ import annotations

from typing import NamedTuple

import jax

from _descent import validation
from optim._core.base import EmptyState, GradientTransformation, ScalarOrSchedule, elementwise
from optim._core.steps import safe_increment, step_counter, value_at
from optim._core.structure import (
    check_state,
    check_update_dtypes,
    check_updates,
    require_params,
)
from optim.numerics import safe_norm
from optim.tree import tree_global_norm


def scale_by_param_block_norm(min_scale: float = 1e-3) -> GradientTransformation:
    """Scale each leaf's update by its param's l2 norm: `u <- max(||w||, min_scale) * u`.

    The block-wise relative step of Adafactor-style optimizers, with norms (as
    `scale_by_param_block_rms` with root-mean-squares). `min_scale` keeps zero-initialised
    params moving. As optax's; needs the params.
    """
    validation.fixed_number("min_scale", min_scale)
    validation.non_negative("min_scale", min_scale)

    def update(updates, state, params=None, **extra):
        require_params(params, "scale_by_param_block_norm")
        check_updates(updates, params, "params")
        floor = value_at(min_scale, None)
        return jax.tree.map(
            lambda u, w: (u * safe_norm(w, floor)).astype(u.dtype), updates, params
        ), state

    return GradientTransformation(lambda params: EmptyState(), update)


def normalize_by_update_norm(
    scale_factor: float = 1.0, eps: float = 1e-6
) -> GradientTransformation:
    """Rescale the whole update to the norm `scale_factor` (normalized gradient descent):

        u <- scale_factor * u / (||u|| + eps)

    with ||u|| the global l2 norm, in at least float32. As optax's.
    """
    validation.fixed_number("scale_factor", scale_factor)
    validation.in_range("scale_factor", scale_factor)
    validation.fixed_number("eps", eps)
    validation.non_negative("eps", eps)

    def update(updates, state, params=None, **extra):
        check_update_dtypes(updates, params)
        norm = (tree_global_norm(updates) + value_at(eps, None)) / value_at(scale_factor, None)
        return jax.tree.map(lambda u: (u / norm).astype(u.dtype), updates), state

    return elementwise(GradientTransformation(lambda params: EmptyState(), update))


class ShrinkParamsState(NamedTuple):
    count: jax.Array


def shrink_params(rate: ScalarOrSchedule) -> GradientTransformation:
    """`u <- u - rate * w`: a step that also shrinks the params by the factor `1 - rate`
    (Fromage's division by sqrt(1 + learning_rate**2), which keeps the weight norms bounded).
    `rate` in [0, 1], a number or a schedule; needs the params."""
    validation.in_range("rate", rate, 0.0, 1.0)

    def update(updates, state, params=None, **extra):
        check_state(state, ShrinkParamsState, "shrink_params")
        require_params(params, "shrink_params")
        check_updates(updates, params, "params")
        r = value_at(rate, state.count)
        out = jax.tree.map(lambda u, w: (u - r * w).astype(u.dtype), updates, params)
        return out, ShrinkParamsState(safe_increment(state.count))

    return elementwise(GradientTransformation(lambda params: ShrinkParamsState(step_counter()),
                                              update))
