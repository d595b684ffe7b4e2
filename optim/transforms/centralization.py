"""Gradient centralization (Yong et al. 2020, "Gradient Centralization: A New Optimization
Technique for Deep Neural Networks", arXiv:2004.01461)."""

from __future__ import annotations

import jax

from optim._core.base import EmptyState, GradientTransformation
from optim._core.structure import check_update_dtypes


def _subtract_mean(g: jax.Array) -> jax.Array:
    if g.ndim < 2:
        return g
    return g - g.mean(axis=tuple(range(1, g.ndim)), keepdims=True)


def centralize() -> GradientTransformation:
    """Subtract from each slice `g[i]` of a leaf with two or more axes its own mean.

        u[i, ...] <- g[i, ...] - mean(g[i, ...])       (leaves of rank >= 2)
        u <- g                                          (vectors and scalars)

    The mean is over every axis but the first, as the paper (one mean per output unit of a
    weight matrix laid out `[out, in]`) and optax's `centralize`. Keeps no state.
    """

    def update(updates, state, params=None, **extra):
        check_update_dtypes(updates, params)
        return jax.tree.map(_subtract_mean, updates), state

    # Not elementwise: the mean is shared along a row, not a scalar shared by all entries.
    return GradientTransformation(lambda params: EmptyState(), update)
