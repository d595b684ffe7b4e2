"""Quasi-Newton methods as transforms: BFGS and L-BFGS (Nocedal & Wright, chapters 6 and 7).

`scale_by_bfgs` and `scale_by_lbfgs` turn the gradient `g` into `H g`, `H` an approximation of
the inverse Hessian built from the secant pairs `s = x_k - x_{k-1}`, `y = g_k - g_{k-1}` (so
`update` needs `params`). The `bfgs` and `lbfgs` aliases (`optim/aliases/second_order.py`)
negate the direction and pick the step with a zoom line search, as optax's `lbfgs` does.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from _descent import validation
from _descent.dtypes import scalar_dtype
from optim._core.base import GradientTransformation
from optim._core.steps import safe_increment, step_counter
from optim._core.structure import check_real, check_state
from optim.second_order.objective import check_params, flat_vector
from optim.tree import tree_cast_like


def _first_step_scale(g: jax.Array) -> jax.Array:
    """min(1, 1/||g||): the first direction is at most unit length (scipy's and optax's choice)."""
    norm = jnp.linalg.norm(g)
    return jnp.where(norm > 1.0, 1.0 / jnp.where(norm > 0, norm, 1.0), 1.0)




class ScaleByBfgsState(NamedTuple):
    """`inv_hessian`: the current approximation H of the inverse Hessian (n x n);
    `num_updates`: curvature pairs absorbed since the last (re)start."""

    count: jax.Array
    inv_hessian: jax.Array
    prev_params: jax.Array
    prev_updates: jax.Array
    num_updates: jax.Array


def _curvature_ok(s: jax.Array, y: jax.Array, sy: jax.Array) -> jax.Array:
    """`y^T s > 0`, with a relative margin of machine epsilon so round-off cannot pass."""
    margin = jnp.finfo(s.dtype).eps * jnp.linalg.norm(s) * jnp.linalg.norm(y)
    return jnp.isfinite(sy) & (sy > margin)


def _secant_pair(updates, state, params, dtype, name):
    """The flat grads (and how to unravel them), the flat params, and the last step's pair
    `s = x_k - x_{k-1}`, `y = g_k - g_{k-1}`, with `y^T s` and whether it may be absorbed."""
    check_params(params, updates, name)
    x, _ = flat_vector(params, dtype)
    g, unravel_g = flat_vector(updates, dtype)
    s, y = x - state.prev_params, g - state.prev_updates
    sy = s @ y
    absorb = (state.count > 0) & _curvature_ok(s, y, sy)
    return g, unravel_g, x, s, y, sy, absorb


def scale_by_bfgs(scale_init_precond: bool = False) -> GradientTransformation:
    """BFGS: `u = H_k g_k` with the dense inverse-Hessian approximation (N&W Algorithm 6.1).

    With `s = x_k - x_{k-1}`, `y = g_k - g_{k-1}` and `rho = 1 / y^T s`, the update of the
    inverse Hessian is N&W eq. 6.17,

        H_k = (I - rho s y^T) H_{k-1} (I - rho y s^T) + rho s s^T,

    skipped when the curvature condition `y^T s > 0` fails (it always holds after a strong
    Wolfe line search; a skip keeps H positive definite otherwise). `H_0 = I` and the first
    direction is `g / max(1, ||g||)` (a first step of at most unit length, as scipy's).
    `scale_init_precond=True` rescales H to `(y^T s / y^T y) I` just before the first update
    (N&W eq. 6.20). It is off by default, as in scipy's BFGS: on Rosenbrock from (-1.2, 1, ...)
    with the zoom line search (c2 = 0.9) and tol_grad = 1e-6 it costs more iterations (2-D: 35
    instead of 29; 100-D: 597 instead of 501) though fewer function evaluations (100-D: 665
    instead of 1080, as the unit step is accepted more often). Should H stop giving a descent
    direction (round-off), it is reset to I. Needs `params`. The state holds an n x n matrix:
    for large n use `scale_by_lbfgs`.
    """
    validation.boolean("scale_init_precond", scale_init_precond)

    def init(params):
        check_real(params, "scale_by_bfgs")
        dtype = scalar_dtype(params)
        x, _ = flat_vector(params, dtype)
        return ScaleByBfgsState(
            count=step_counter(),
            inv_hessian=jnp.eye(x.size, dtype=dtype),
            prev_params=jnp.zeros_like(x),
            prev_updates=jnp.zeros_like(x),
            num_updates=jnp.zeros([], jnp.int32),
        )

    def update(updates, state, params=None, **extra):
        check_state(state, ScaleByBfgsState, "scale_by_bfgs")
        dtype = state.inv_hessian.dtype
        g, unravel_g, x, s, y, sy, absorb = _secant_pair(
            updates, state, params, dtype, "scale_by_bfgs"
        )
        h = state.inv_hessian
        if scale_init_precond:
            gamma = sy / jnp.where(y @ y > 0, y @ y, 1.0)
            h = jnp.where(state.num_updates == 0, gamma * jnp.eye(x.size, dtype=dtype), h)
        rho = 1.0 / jnp.where(absorb, sy, 1.0)
        hy = h @ y
        # eq. 6.17 expanded, using the symmetry of H.
        h_new = (
            h
            - rho * (jnp.outer(s, hy) + jnp.outer(hy, s))
            + (rho * rho * (y @ hy) + rho) * jnp.outer(s, s)
        )
        h = jnp.where(absorb, h_new, state.inv_hessian)
        direction = h @ g
        restart = (state.count == 0) | ~(direction @ g > 0) | ~jnp.all(jnp.isfinite(direction))
        h = jnp.where(restart, jnp.eye(x.size, dtype=dtype), h)
        direction = jnp.where(restart, _first_step_scale(g) * g, direction)
        num_updates = jnp.where(restart, 0, state.num_updates + absorb.astype(jnp.int32))
        new_state = ScaleByBfgsState(
            count=safe_increment(state.count),
            inv_hessian=h,
            prev_params=x,
            prev_updates=g,
            num_updates=num_updates.astype(jnp.int32),
        )
        return tree_cast_like(unravel_g(direction), updates), new_state

    return GradientTransformation(init, update)


# ----------------------------------------------------------------------------------------------
# L-BFGS
# ----------------------------------------------------------------------------------------------


class ScaleByLbfgsState(NamedTuple):
    """The last `memory_size` pairs `s_i`, `y_i` (rows of `diff_params`, `diff_updates`, a ring
    buffer whose next slot is `num_updates % memory_size`), `rho_i = 1 / y_i^T s_i` (0 in empty
    slots), and the initial scaling `gamma` of the newest pair."""

    count: jax.Array
    diff_params: jax.Array
    diff_updates: jax.Array
    rho: jax.Array
    gamma: jax.Array
    prev_params: jax.Array
    prev_updates: jax.Array
    num_updates: jax.Array

    # optax's field names for the same arrays (`optax.ScaleByLBFGSState`), so that code reading
    # `state.diff_params_memory` or `state.weights_memory` moves over unchanged.
    @property
    def params(self) -> jax.Array:
        return self.prev_params

    @property
    def updates(self) -> jax.Array:
        return self.prev_updates

    @property
    def diff_params_memory(self) -> jax.Array:
        return self.diff_params

    @property
    def diff_updates_memory(self) -> jax.Array:
        return self.diff_updates

    @property
    def weights_memory(self) -> jax.Array:
        return self.rho


ScaleByLBFGSState = ScaleByLbfgsState
"""optax's spelling of `ScaleByLbfgsState`."""


def _two_loop(g, s_mem, y_mem, rho, gamma, newest):
    """N&W Algorithm 7.4: `H_k g` from the stored pairs, newest first, then oldest first."""
    m = rho.shape[0]

    def backward(j, carry):
        q, alphas = carry
        i = (newest - j) % m
        alpha = rho[i] * (s_mem[i] @ q)
        return q - alpha * y_mem[i], alphas.at[i].set(alpha)

    q, alphas = jax.lax.fori_loop(0, m, backward, (g, jnp.zeros_like(rho)))

    def forward(j, r):
        i = (newest + 1 + j) % m
        beta = rho[i] * (y_mem[i] @ r)
        return r + (alphas[i] - beta) * s_mem[i]

    return jax.lax.fori_loop(0, m, forward, gamma * q)


def scale_by_lbfgs(
    memory_size: int = 10, scale_init_precond: bool = True
) -> GradientTransformation:
    """L-BFGS: `u = H_k g_k` from the last `memory_size` pairs (Liu & Nocedal 1989).

    `H_k g` is computed by the two-loop recursion (N&W Algorithm 7.4) over the pairs
    `s_i = x_{i+1} - x_i`, `y_i = g_{i+1} - g_i`, `rho_i = 1 / y_i^T s_i`, starting from
    `H_k^0 = gamma_k I` with `gamma_k = s^T y / y^T y` of the newest pair (N&W eq. 7.20) when
    `scale_init_precond` (default; else 1). A pair with `y^T s <= 0` is not stored. The first
    direction (no pair stored yet) is `g / max(1, ||g||)` with `scale_init_precond` (scipy,
    optax), else `g`. Should the direction stop descending (round-off), the memory is
    cleared. Defaults as optax and scipy
    (`memory_size=10`). Needs `params`.
    """
    validation.boolean("scale_init_precond", scale_init_precond)
    validation.integer("memory_size", memory_size, 1)

    def init(params):
        check_real(params, "scale_by_lbfgs")
        dtype = scalar_dtype(params)
        x, _ = flat_vector(params, dtype)
        return ScaleByLbfgsState(
            count=step_counter(),
            diff_params=jnp.zeros((memory_size, x.size), dtype),
            diff_updates=jnp.zeros((memory_size, x.size), dtype),
            rho=jnp.zeros((memory_size,), dtype),
            gamma=jnp.ones([], dtype),
            prev_params=jnp.zeros_like(x),
            prev_updates=jnp.zeros_like(x),
            num_updates=jnp.zeros([], jnp.int32),
        )

    def update(updates, state, params=None, **extra):
        check_state(state, ScaleByLbfgsState, "scale_by_lbfgs")
        dtype = state.rho.dtype
        g, unravel_g, x, s, y, sy, absorb = _secant_pair(
            updates, state, params, dtype, "scale_by_lbfgs"
        )
        yy = y @ y
        slot = state.num_updates % memory_size
        s_mem = jnp.where(absorb, state.diff_params.at[slot].set(s), state.diff_params)
        y_mem = jnp.where(absorb, state.diff_updates.at[slot].set(y), state.diff_updates)
        rho = jnp.where(absorb, state.rho.at[slot].set(1.0 / jnp.where(absorb, sy, 1.0)), state.rho)
        num_updates = state.num_updates + absorb.astype(jnp.int32)
        if scale_init_precond:
            gamma = jnp.where(absorb, sy / jnp.where(absorb, yy, 1.0), state.gamma)
            # No pair yet (the first step, or after a restart): a capped unit step.
            first = _first_step_scale(g)
        else:
            gamma = first = jnp.ones([], dtype)
        gamma = jnp.where(num_updates == 0, first, gamma).astype(dtype)
        newest = (num_updates - 1) % memory_size
        direction = _two_loop(g, s_mem, y_mem, rho, gamma, newest)
        restart = ~(direction @ g > 0) | ~jnp.all(jnp.isfinite(direction))
        direction = jnp.where(restart, first * g, direction)
        new_state = ScaleByLbfgsState(
            count=safe_increment(state.count),
            diff_params=s_mem,
            diff_updates=y_mem,
            rho=jnp.where(restart, 0.0, rho).astype(dtype),
            gamma=gamma,
            prev_params=x,
            prev_updates=g,
            num_updates=jnp.where(restart, 0, num_updates).astype(jnp.int32),
        )
        return tree_cast_like(unravel_g(direction), updates), new_state

    return GradientTransformation(init, update)
