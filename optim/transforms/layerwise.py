"""Layer-wise trust ratios for large-batch training: LARS and LAMB's scaling.

A "layer" is one leaf of the params tree: each leaf's step is rescaled by the ratio of the
leaf's weight norm to its update norm, so every layer moves by a similar relative amount.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from _descent import validation
from optim._core.base import EmptyState, GradientTransformation, ScalarOrSchedule
from optim._core.masks import MaskOrFn, check_mask, resolve_mask
from optim._core.steps import safe_increment, step_counter, value_at
from optim._core.structure import check_state, check_updates, require_params
from optim.tree import tree_sum_of_squares

ScaleByTrustRatioState = EmptyState
"""optax's name for `scale_by_trust_ratio`'s state: none."""


def _norm(x: jax.Array) -> jax.Array:
    """The l2 norm of one leaf, `sqrt(sum |x|**2)` (complex leaves too), in at least float32."""
    return jnp.sqrt(tree_sum_of_squares(x))


def scale_by_trust_ratio(
    min_norm: float = 0.0, trust_coefficient: float = 1.0, eps: float = 0.0
) -> GradientTransformation:
    """LAMB's layer-wise trust ratio (You et al. 2020, Algorithm 2), leaf by leaf:

        u <- trust_coefficient * ||w|| / (||u|| + eps) * u       (||.|| clipped below at min_norm)

    and `u` unchanged where ||w|| or ||u|| is 0 (a fresh zero-initialised layer would never
    move otherwise). The paper's scaling function phi is the identity. As optax.
    """
    validation.non_negative("min_norm", min_norm)
    validation.non_negative("trust_coefficient", trust_coefficient)
    validation.non_negative("eps", eps)

    def update(updates, state, params=None, **extra):
        require_params(params, "scale_by_trust_ratio")
        check_updates(updates, params, "params")

        def one(u, w):
            w_norm = jnp.maximum(_norm(w), min_norm)
            u_norm = jnp.maximum(_norm(u), min_norm)
            ratio = trust_coefficient * w_norm / (u_norm + eps)
            ratio = jnp.where((w_norm == 0) | (u_norm == 0), 1.0, ratio)
            return (ratio * u).astype(u.dtype)

        return jax.tree.map(one, updates, params), state

    return GradientTransformation(lambda params: EmptyState(), update)


class ScaleByLarsState(NamedTuple):
    count: jax.Array


def scale_by_lars(
    trust_coefficient: float = 0.001,
    weight_decay: ScalarOrSchedule = 0.0,
    eps: float = 0.0,
    *,
    weight_decay_mask: MaskOrFn = True,
    trust_ratio_mask: MaskOrFn = True,
) -> GradientTransformation:
    """LARS's local learning rate (You, Gitman & Ginsburg 2017, Algorithm 1), leaf by leaf:

        lambda = trust_coefficient * ||w|| / (||g|| + weight_decay * ||w|| + eps)
        u      = lambda * (g + weight_decay * w)

    with lambda = 1 where ||w|| or the denominator is 0. The paper's denominator
    `||g|| + beta ||w||` is followed; optax's `lars` divides by `||g + beta w||` instead (the
    two agree without weight decay). The masks (trees of Python booleans with the params'
    structure or a prefix of it, or functions `params -> mask`) choose the leaves that are
    decayed and those that are rescaled; LARS is usually applied to weights only, not to
    biases and normalisation scales. Defaults from the paper (trust coefficient 0.001).
    """
    validation.non_negative("trust_coefficient", trust_coefficient)
    validation.non_negative("weight_decay", weight_decay)
    validation.non_negative("eps", eps)
    check_mask(weight_decay_mask, "weight_decay_mask")
    check_mask(trust_ratio_mask, "trust_ratio_mask")

    def update(updates, state, params=None, **extra):
        check_state(state, ScaleByLarsState, "scale_by_lars")
        require_params(params, "scale_by_lars")
        check_updates(updates, params, "params")
        decay = value_at(weight_decay, state.count)
        decayed = resolve_mask(weight_decay_mask, params, "weight_decay_mask")
        rescaled = resolve_mask(trust_ratio_mask, params, "trust_ratio_mask")

        def one(g, w, decay_this, rescale_this):
            beta = decay if decay_this else 0.0
            step = g + beta * w.astype(g.dtype)
            if not rescale_this:
                return step.astype(g.dtype)
            w_norm = _norm(w)
            denominator = _norm(g) + beta * w_norm + eps
            ratio = trust_coefficient * w_norm / denominator
            ratio = jnp.where((w_norm == 0) | (denominator == 0), 1.0, ratio)
            return (ratio * step).astype(g.dtype)

        leaves, treedef = jax.tree.flatten(updates)
        out = [
            one(g, w, d, r)
            for g, w, d, r in zip(leaves, jax.tree.leaves(params), decayed, rescaled, strict=True)
        ]
        return treedef.unflatten(out), ScaleByLarsState(safe_increment(state.count))

    return GradientTransformation(lambda params: ScaleByLarsState(step_counter()), update)
