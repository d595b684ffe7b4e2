"""Adafactor's pieces (Shazeer & Stern 2018): factored second moments and RMS-relative steps."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from _descent import validation
from optim._core.base import EmptyState, GradientTransformation
from optim._core.numerics import saturate, saturated_square
from optim._core.precision import moment_dtype
from optim._core.steps import safe_increment, step_counter, value_at
from optim._core.structure import (
    check_real,
    check_same_structure,
    check_state,
    check_update_dtypes,
    check_updates,
    require_params,
)
from optim.sharding import replicated_on
from optim.tree import tree_unzip


def _wide(x: jax.Array) -> jax.Array:
    return x.astype(jnp.promote_types(x.dtype, jnp.float32))


def _rms(x: jax.Array) -> jax.Array:
    return jnp.sqrt(jnp.mean(jnp.square(_wide(x))))


def factored_dims(
    shape: tuple[int, ...], factored: bool, min_dim_size_to_factor: int
) -> tuple[int, int] | None:
    """The axes (second largest, largest) to factor over, or None to keep a full moment."""
    if not factored or len(shape) < 2:
        return None
    order = np.argsort(shape, kind="stable")
    if shape[order[-2]] < min_dim_size_to_factor:
        return None
    return int(order[-2]), int(order[-1])


def relative_step_size(count: jax.Array) -> jax.Array:
    """Adafactor's relative step size `rho_t = min(1e-2, 1 / sqrt(t))`, t = count + 1."""
    t = jnp.asarray(count, jnp.float32) + 1
    return jnp.minimum(1e-2, jax.lax.rsqrt(t))


class FactoredState(NamedTuple):
    count: jax.Array
    v_row: Any  # per leaf: the moment averaged over the largest axis, or an empty array
    v_col: Any  # per leaf: the moment averaged over the second largest axis, or empty
    v: Any  # per leaf: the full moment of a leaf too small to factor, or an empty array


def scale_by_factored_rms(
    factored: bool = True,
    decay_rate: float = 0.8,
    step_offset: int = 0,
    min_dim_size_to_factor: int = 128,
    epsilon: float = 1e-30,
    decay_rate_fn: Callable[[jax.Array, Any], Any] | None = None,
) -> GradientTransformation:
    """Divide by a factored estimate of the gradients' RMS (Shazeer & Stern 2018, Alg. 4 and 5).

        b2_t = 1 - t**(-decay_rate)         t = max(count - step_offset, 0) + 1   (b2_1 = 0)
        R_t  = b2_t R_{t-1} + (1 - b2_t) mean_col(g**2 + epsilon)     (one value per row)
        C_t  = b2_t C_{t-1} + (1 - b2_t) mean_row(g**2 + epsilon)     (one value per column)
        V_t  = R_t C_t / mean(R_t)                    u_t = g_t / sqrt(V_t)

    for each leaf whose two largest axes are both at least `min_dim_size_to_factor` long (rows
    and columns are those axes; other axes are kept): O(n + m) memory instead of O(n m). Other
    leaves keep a full moment `V_t = b2_t V_{t-1} + (1 - b2_t)(g**2 + epsilon)`. The paper's
    sums are written as means, which gives the same V_t. Defaults from the paper (decay 0.8,
    epsilon1 = 1e-30) and optax (factor from 128 up). Unused moments are empty arrays.

    `decay_rate_fn(i, decay_rate) -> b2_t` (optax's keyword) replaces the schedule
    `1 - (i + 1)**(-decay_rate)`, with `i = max(count - step_offset, 0)` the steps since the
    offset; None (the default) is that schedule, the paper's (optax's default function).
    """
    validation.in_range("decay_rate", decay_rate, 0.0, low_open=True)
    validation.integer("step_offset", step_offset, 0, concrete=False)
    validation.boolean("factored", factored)
    validation.non_negative("epsilon", epsilon)
    if decay_rate_fn is not None and not callable(decay_rate_fn):
        raise TypeError("decay_rate_fn must be a function (step, decay_rate) -> decay, or None "
                        f"for 1 - (step + 1)**(-decay_rate); got {decay_rate_fn!r}")
    # It decides shapes: inject_hyperparams must keep it static (`static_args`).
    validation.integer("min_dim_size_to_factor", min_dim_size_to_factor, 1)

    def init(params):
        check_real(params, "scale_by_factored_rms",
                   why="Its second-moment rule is defined for real gradients only")

        def one(p):
            dims = factored_dims(jnp.shape(p), factored, min_dim_size_to_factor)
            dtype, shape = moment_dtype(p), jnp.shape(p)
            # The vectors, of O(n + m) entries, are replicated on the param's mesh rather than
            # sharded along the axis they keep: `optim.state_shardings` gives every leaf not
            # shaped like a param that placement, so eager and jitted states agree.
            zeros = functools.partial(jnp.zeros, dtype=dtype, device=replicated_on(p))
            if dims is None:  # two empty arrays, not one twice (donated states)
                return zeros((0,)), zeros((0,)), jnp.zeros_like(p, dtype=dtype)
            d_col, d_row = dims
            row_shape = tuple(s for i, s in enumerate(shape) if i != d_row)
            col_shape = tuple(s for i, s in enumerate(shape) if i != d_col)
            return zeros(row_shape), zeros(col_shape), zeros((0,))

        return _split(step_counter(), params, one)

    def update(updates, state, params=None, **extra):
        check_state(state, FactoredState, "scale_by_factored_rms")
        check_same_structure(updates, state.v, "updates", "state.v", shapes=False)
        check_update_dtypes(updates, state.v, "state.v")
        # Before `step_offset` (fine-tuning from that step) t stays 1: b2 = 0, not NaN.
        elapsed = jnp.maximum(state.count - value_at(step_offset, state.count), 0)
        rate = jnp.asarray(value_at(decay_rate, state.count), jnp.float32)
        if decay_rate_fn is None:
            decay = 1 - (elapsed + 1).astype(jnp.float32) ** (-rate)
        else:
            decay = jnp.asarray(decay_rate_fn(elapsed, rate), jnp.float32)
        eps1 = value_at(epsilon, state.count)

        def one(g, v_row, v_col, v):
            dims = factored_dims(jnp.shape(g), factored, min_dim_size_to_factor)
            g2 = saturated_square(_wide(g)) + eps1
            if dims is None:
                new_v = saturate(decay * _wide(v) + (1 - decay) * g2)
                out = _wide(g) * jax.lax.rsqrt(new_v)
                return out.astype(g.dtype), v_row, v_col, new_v.astype(v.dtype)
            d_col, d_row = dims
            new_row = saturate(decay * _wide(v_row) + (1 - decay) * jnp.mean(g2, axis=d_row))
            new_col = saturate(decay * _wide(v_col) + (1 - decay) * jnp.mean(g2, axis=d_col))
            col_axis_in_row = d_col - 1 if d_col > d_row else d_col
            row_mean = saturate(jnp.mean(new_row, axis=col_axis_in_row, keepdims=True))
            # rsqrt(R / mean R) as rsqrt(R) sqrt(mean R): XLA divides through a reciprocal,
            # which is subnormal (flushed to 0) for a saturated mean.
            out = (
                _wide(g)
                * jnp.expand_dims(jax.lax.rsqrt(new_row) * jnp.sqrt(row_mean), d_row)
                * jnp.expand_dims(jax.lax.rsqrt(new_col), d_col)
            )
            return (
                out.astype(g.dtype),
                new_row.astype(v_row.dtype),
                new_col.astype(v_col.dtype),
                v,
            )

        results = jax.tree.map(one, updates, state.v_row, state.v_col, state.v)
        out, v_row, v_col, v = tree_unzip(results, updates, 4)
        return out, FactoredState(safe_increment(state.count), v_row, v_col, v)

    return GradientTransformation(init, update)


def _split(count: jax.Array, params: Any, one: Any) -> FactoredState:
    results = jax.tree.map(one, params)
    v_row, v_col, v = tree_unzip(results, params, 3)
    return FactoredState(count, v_row, v_col, v)


def clip_by_block_rms(threshold: float) -> GradientTransformation:
    """Adafactor's update clipping, leaf by leaf: `u <- u / max(1, RMS(u) / threshold)`.

    Shazeer & Stern's threshold d = 1. As optax.
    """
    validation.positive("threshold", threshold)

    def update(updates, state, params=None, **extra):
        check_update_dtypes(updates, params)
        d = value_at(threshold, None)
        return jax.tree.map(
            lambda u: (_wide(u) / jnp.maximum(1.0, _rms(u) / d)).astype(u.dtype), updates
        ), state

    return GradientTransformation(lambda params: EmptyState(), update)


def scale_by_param_block_rms(min_scale: float = 1e-3) -> GradientTransformation:
    """Relative steps, leaf by leaf: `u <- max(RMS(params), min_scale) * u`.

    Shazeer & Stern's `alpha_t = max(epsilon2, RMS(X_{t-1})) rho_t`, epsilon2 = 1e-3. As optax.
    """
    validation.non_negative("min_scale", min_scale)

    def update(updates, state, params=None, **extra):
        require_params(params, "scale_by_param_block_rms")
        check_updates(updates, params, "params")
        floor = value_at(min_scale, None)
        return jax.tree.map(
            lambda u, p: (jnp.maximum(_rms(p), floor) * _wide(u)).astype(u.dtype),
            updates,
            params,
        ), state

    return GradientTransformation(lambda params: EmptyState(), update)
