"""SM3: memory-efficient adaptive steps from one accumulator per row, column, ... (Anil,
Gupta, Koren & Singer 2019, "Memory-Efficient Adaptive Optimization", SM3-II)."""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from _descent import validation
from optim._core.base import GradientTransformation
from optim._core.numerics import saturate, saturated_square
from optim._core.precision import moments_like
from optim._core.steps import value_at
from optim._core.structure import check_real, check_state, check_updates
from optim.tree import update_moment


class ScaleBySM3State(NamedTuple):
    mu: Any  # per leaf, the list of its accumulators: one vector per axis (a vector's own)
    nu: Any  # the momentum of the scaled gradients (the update)


def _accumulators(p: jax.Array) -> list:
    dtype = moments_like(p).dtype
    if p.ndim < 2:  # a vector's (or a scalar's) cover is its entries: one accumulator each
        return [jnp.zeros(p.shape, dtype)]
    return [jnp.zeros((p.shape[axis],), dtype) for axis in range(p.ndim)]


def _along(vector: jax.Array, axis: int, ndim: int) -> jax.Array:
    """A vector of axis `axis` shaped to broadcast against an array of `ndim` axes."""
    return jnp.reshape(vector, [1] * axis + [-1] + [1] * (ndim - axis - 1))


def scale_by_sm3(
    b1: float = 0.9, b2: float = 1.0, eps: float = 1e-8
) -> GradientTransformation:
    """SM3-II's scaling (Anil et al. 2019, Algorithm SM3-II), with momentum, as optax's.

    For a leaf of two or more axes, one accumulator per index of each axis (a row's, a
    column's, ...) covers the entries of that slice:

        a_t(i)  = c * g_t(i)**2 + b2 * min over axes k of mu_{t-1, k}(i_k)
        mu_t,k  = max of a_t over all axes but k
        nu_t    = b1 * nu_{t-1} + (1 - b1) * g_t / sqrt(a_t + eps)     (0 where a_t = 0)
        u_t     = nu_t

    with c = 1 - b2, or c = 1 for b2 = 1 (the paper's sum of squares, the default). A vector
    (or a scalar) keeps one accumulator per entry, AdaGrad's. Memory is a sum of the axis
    lengths, not their product. Defaults from optax (b1 = 0.9, the paper's momentum).
    Accumulators saturate at the dtype's largest value.
    """
    validation.fixed_number("b1", b1)  # the state keeps no step count for a schedule
    validation.decay_rate("b1", b1)
    validation.fixed_number("b2", b2)
    validation.in_range("b2", b2, 0.0, 1.0)
    validation.non_negative("eps", eps)

    def init(params):
        check_real(params, "scale_by_sm3",
                   why="Its second-moment rule is defined for real gradients only")
        return ScaleBySM3State(jax.tree.map(_accumulators, params), moments_like(params))

    def update(updates, state, params=None, **extra):
        check_state(state, ScaleBySM3State, "scale_by_sm3")
        check_updates(updates, state.nu, "state.nu")
        beta1, beta2, e = value_at(b1, None), value_at(b2, None), value_at(eps, None)
        c = jnp.where(beta2 == 1, 1.0, 1 - beta2)

        def accumulate(g, mu):
            square = saturated_square(g.astype(mu[0].dtype))
            if g.ndim < 2:
                return saturate(c * square + beta2 * mu[0])
            covers = [_along(m, axis, g.ndim) for axis, m in enumerate(mu)]
            return saturate(c * square + beta2 * functools.reduce(jnp.minimum, covers))

        def maxima(a):
            if a.ndim < 2:
                return [a]
            axes = range(a.ndim)
            return [jnp.max(a, axis=tuple(j for j in axes if j != k)) for k in axes]

        accumulated = jax.tree.map(accumulate, updates, state.mu)
        scaled = jax.tree.map(
            lambda g, a: jnp.where(a > 0, g * jax.lax.rsqrt(a + e), 0).astype(a.dtype),
            updates, accumulated,
        )
        nu = update_moment(scaled, state.nu, beta1, 1)
        mu = jax.tree.map(maxima, accumulated)
        out = jax.tree.map(lambda g, n: n.astype(g.dtype), updates, nu)
        return out, ScaleBySM3State(mu, nu)

    return GradientTransformation(init, update)
