"""Clipping relative to the params, and per example: adaptive gradient clipping (Brock, De,
Smith & Simonyan 2021, "High-Performance Large-Scale Image Recognition Without
Normalization", section 4) and the per-example clipping of differentially private SGD
(Abadi et al. 2016, "Deep Learning with Differential Privacy", Algorithm 1)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from _descent import validation
from optim._core.base import EmptyState, GradientTransformation
from optim._core.steps import value_at
from optim._core.structure import check_updates, require_params
from optim.tree import tree_global_norm, tree_unzip

AdaptiveGradClipState = EmptyState
"""optax's name for `adaptive_grad_clip`'s state: none."""

# The reduction axes of a unit (one output's fan-in) for the usual layer shapes, as optax's:
# dense IO and multi-head kernels over axis 0, convolutions HWIO / DHWIO over all but O.
_UNIT_AXES = {2: (0,), 3: (0,), 4: (0, 1, 2), 5: (0, 1, 2, 3)}


def _unitwise_norm(x: jax.Array, axis: Any) -> jax.Array:
    wide = x.astype(jnp.promote_types(x.dtype, jnp.float32))
    if axis is None and jnp.squeeze(x).ndim <= 1:
        axis = tuple(range(x.ndim))  # a scalar, a vector (bias, gain) is one unit
    elif axis is None:
        axis = _UNIT_AXES[x.ndim]
    norm = jnp.sqrt(jnp.sum(jnp.square(wide), axis=axis, keepdims=True))
    return jnp.broadcast_to(norm, x.shape)


def _check_axis(axis: Any) -> None:
    axes = axis if isinstance(axis, tuple) else (axis,)
    if axis is not None and not all(isinstance(a, int) and not isinstance(a, bool) for a in axes):
        raise TypeError(f"axis must be None, an int or a tuple of ints, got {axis!r}")


def adaptive_grad_clip(
    clipping: float, eps: float = 1e-3, axis: int | tuple[int, ...] | None = None
) -> GradientTransformation:
    """Adaptive gradient clipping (Brock et al. 2021, eq. 3), unit by unit:

        G_i <- G_i * clipping * max(||W_i||, eps) / ||G_i||    where that is < 1, else G_i

    A unit is one output's fan-in: a leaf's columns for a dense kernel (axes 0 of 2 or 3), all
    but the last axis for a convolution (4 or 5 axes), the whole leaf for a scalar or a vector;
    `axis` chooses the reduction axes instead (needed for other shapes). Defaults from the
    paper and optax (eps = 1e-3); the paper's `clipping` is 0.01 to 0.16 by batch size. Needs
    the params.
    """
    validation.fixed_number("clipping", clipping)
    validation.positive("clipping", clipping)
    validation.fixed_number("eps", eps)
    validation.non_negative("eps", eps)
    _check_axis(axis)

    def update(updates, state, params=None, **extra):
        require_params(params, "adaptive_grad_clip")
        check_updates(updates, params, "params")
        for path, leaf in jax.tree_util.tree_leaves_with_path(params):
            if axis is None and jnp.squeeze(leaf).ndim > 1 and leaf.ndim not in _UNIT_AXES:
                raise ValueError(
                    f"adaptive_grad_clip: the param at {jax.tree_util.keystr(path)} has shape "
                    f"{leaf.shape}; units are known for 1 to 5 axes; pass axis= for this one")
        bound, floor = value_at(clipping, None), value_at(eps, None)

        def one(g, w):
            g_norm, w_norm = _unitwise_norm(g, axis), _unitwise_norm(w, axis)
            max_norm = bound * jnp.maximum(w_norm, floor)
            # The floor of 1e-6 only keeps the unused branch finite where g_norm is 0.
            clipped = g * (max_norm / jnp.maximum(g_norm, 1e-6))
            return jnp.where(g_norm < max_norm, g, clipped).astype(g.dtype)

        return jax.tree.map(one, updates, params), state

    return GradientTransformation(lambda params: EmptyState(), update)


def _check_batched(grads: Any, who: str) -> None:
    leaves = jax.tree.leaves(grads)
    sizes = {jnp.shape(g)[0] if jnp.ndim(g) else None for g in leaves}
    if not leaves or None in sizes or len(sizes) != 1:
        raise ValueError(
            f"{who} needs grads with a batch axis first (the same size on every leaf); got "
            f"shapes {jax.tree.map(jnp.shape, grads)}")


def per_example_global_norm_clip(grads: Any, l2_norm_clip: float) -> tuple[Any, jax.Array]:
    """Clip each example's gradient to global norm `l2_norm_clip`, then sum over examples:

        sum_i g_i * min(1, l2_norm_clip / ||g_i||)

    `grads` has a leading batch axis on every leaf (as from `jax.vmap(jax.grad(loss))`).
    Returns the summed tree and the number of examples that were clipped. As optax's.
    """
    _check_batched(grads, "per_example_global_norm_clip")
    validation.fixed_number("l2_norm_clip", l2_norm_clip)
    validation.non_negative("l2_norm_clip", l2_norm_clip)
    norms = jax.vmap(tree_global_norm)(grads)
    # A zero gradient's ratio is inf / NaN: it is left as it is (factor 1), as optax's.
    factors = jnp.nan_to_num(jnp.minimum(l2_norm_clip / norms, 1.0), nan=1.0)
    summed = jax.tree.map(lambda g: jnp.tensordot(factors.astype(g.dtype), g, axes=1), grads)
    return summed, jnp.sum(factors < 1.0)


def per_example_layer_norm_clip(
    grads: Any, global_l2_norm_clip: float, uniform: bool = True
) -> tuple[Any, Any]:
    """`per_example_global_norm_clip` leaf by leaf (a layer is a leaf), each with its share of
    `global_l2_norm_clip`: `C / sqrt(L)` for L leaves with `uniform`, else
    `C * sqrt(n_l / n)` for a leaf of n_l of the n entries of one example; so the clipped
    example's global norm is at most C. Returns the tree of summed clipped gradients and the
    tree of each leaf's number of clipped examples. As optax's.
    """
    _check_batched(grads, "per_example_layer_norm_clip")
    validation.fixed_number("global_l2_norm_clip", global_l2_norm_clip)
    validation.non_negative("global_l2_norm_clip", global_l2_norm_clip)
    validation.boolean("uniform", uniform)
    leaves = jax.tree.leaves(grads)
    total = sum(g[0].size for g in leaves)

    def share(g):
        return ((1 / len(leaves)) if uniform else (g[0].size / total)) ** 0.5

    results = jax.tree.map(
        lambda g: per_example_global_norm_clip(g, global_l2_norm_clip * share(g)), grads)
    return tree_unzip(results, grads, 2)
