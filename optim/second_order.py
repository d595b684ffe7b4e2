"""Second-order methods: damped Newton, BFGS and L-BFGS, as transforms and aliases.

The `scale_by_*` transforms turn the incoming gradient `g` into a preconditioned direction
`P g` (`P` the inverse Hessian or an approximation of it); the aliases negate it and pick the
step size with a line search, as optax's `lbfgs` does:

    newton() = chain(scale_by_newton(), scale(-1), scale_by_backtracking_linesearch(...))
    bfgs()   = chain(scale_by_bfgs(),   scale(-1), scale_by_zoom_linesearch(...))
    lbfgs()  = chain(scale_by_lbfgs(),  scale(-1), scale_by_zoom_linesearch(...))

The params may be any pytree: the methods work on the flat vector `jax.flatten_util` makes of
it, in the params' dtype (at least float32), and hand back updates with the gradients' dtypes.
Their update needs `params` (BFGS and L-BFGS measure the step `s = x_k - x_{k-1}` from them,
Newton differentiates there) and Newton needs `value_fn`; the line searches need `value`,
`grad` and `value_fn` too. `optim.minimize` passes all of them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from optim import validate
from optim.base import GradientTransformation
from optim.combine import chain, identity
from optim.linesearch import (
    bind_value_fn,
    require_extras,
    scale_by_backtracking_linesearch,
    scale_by_zoom_linesearch,
    value_dtype,
)
from optim.scale import scale, scale_by_learning_rate
from optim.tree import check_same_structure, safe_increment, step_counter, tree_cast_like

__all__ = [
    "ScaleByBfgsState",
    "ScaleByLbfgsState",
    "ScaleByNewtonState",
    "bfgs",
    "lbfgs",
    "newton",
    "scale_by_bfgs",
    "scale_by_lbfgs",
    "scale_by_newton",
]


def _flat(tree: Any, dtype: Any) -> tuple[jax.Array, Callable[[jax.Array], Any]]:
    flat, unravel = ravel_pytree(tree)
    return flat.astype(dtype), unravel


def _first_step_scale(g: jax.Array) -> jax.Array:
    """min(1, 1/||g||): the first direction is at most unit length (scipy's and optax's choice)."""
    norm = jnp.linalg.norm(g)
    return jnp.where(norm > 1.0, 1.0 / jnp.where(norm > 0, norm, 1.0), 1.0)


def _check_params(params: Any, updates: Any, name: str) -> None:
    require_extras(name, params=params)
    check_same_structure(updates, params, "updates", "params")


# ----------------------------------------------------------------------------------------------
# Newton
# ----------------------------------------------------------------------------------------------


class ScaleByNewtonState(NamedTuple):
    """`negative_curvature`: the last Hessian was not positive definite (the safeguard acted);
    `num_cg_steps`: conjugate-gradient iterations of the last step (0 for the dense solver)."""

    count: jax.Array
    negative_curvature: jax.Array
    num_cg_steps: jax.Array


def _dense_newton(f_flat, x, g, damping):
    """`(|H| + damping I)^-1 g` by an eigendecomposition of the dense Hessian.

    Eigenvalue modification (N&W sec. 3.4; the absolute values of Dauphin et al. 2014's
    saddle-free Newton): each eigenvalue `lambda` of H becomes `max(|lambda|, delta)`,
    `delta = sqrt(eps) * max|lambda|`, so the direction is a descent direction that keeps the
    Newton step along positive curvature and moves away from a saddle along negative curvature.
    """
    hessian = jax.hessian(f_flat)(x)
    hessian = 0.5 * (hessian + hessian.T)
    eigenvalues, vectors = jnp.linalg.eigh(hessian)
    largest = jnp.max(jnp.abs(eigenvalues))
    floor = jnp.where(largest > 0, jnp.sqrt(jnp.finfo(x.dtype).eps) * largest, 1.0)
    modified = jnp.maximum(jnp.abs(eigenvalues), floor) + damping
    direction = vectors @ ((vectors.T @ g) / modified)
    return direction, eigenvalues[0] <= 0, jnp.zeros([], jnp.int32)


def _newton_cg(f_flat, x, g, damping, max_steps, rtol):
    """Truncated conjugate gradients on `(H + damping I) p = g` (N&W Algorithm 7.1).

    Hessian-vector products by forward-over-reverse differentiation; CG stops when the residual
    is below `rtol ||g||`, by default N&W's forcing sequence `rtol = min(0.5, sqrt(||g||))`
    (superlinear convergence, eq. 7.3). At the first direction of non-positive
    curvature CG stops and returns its current iterate, or `g` itself (steepest descent) if that
    happens on the first iteration.
    """
    grad_fn = jax.grad(f_flat)

    def hvp(v):
        return jax.jvp(grad_fn, (x,), (v,))[1].astype(x.dtype) + damping * v

    g_norm = jnp.linalg.norm(g)
    tol = (jnp.minimum(0.5, jnp.sqrt(g_norm)) if rtol is None else rtol) * g_norm
    rr0 = g @ g

    def cond(carry):
        j, _, _, _, _, done, _ = carry
        return (~done) & (j < max_steps)

    def body(carry):
        j, z, r, p, rr, _, _ = carry
        hp = hvp(p)
        curvature = p @ hp
        negative = ~(curvature > 0)
        alpha = rr / jnp.where(negative, 1.0, curvature)
        z_new = z + alpha * p
        r_new = r - alpha * hp
        rr_new = r_new @ r_new
        p_new = r_new + (rr_new / rr) * p
        z = jnp.where(negative, jnp.where(j == 0, g, z), z_new)
        done = negative | (jnp.sqrt(rr_new) <= tol)
        return j + 1, z, r_new, p_new, rr_new, done, negative

    start = (jnp.zeros([], jnp.int32), jnp.zeros_like(g), g, g, rr0, rr0 == 0, jnp.array(False))
    steps, z, _, _, _, _, negative = jax.lax.while_loop(cond, body, start)
    return z, negative, steps


def scale_by_newton(
    damping: float = 0.0,
    *,
    solver: str = "auto",
    max_cg_steps: int | None = None,
    cg_rtol: float | None = None,
    dense_max_size: int = 500,
) -> GradientTransformation:
    """Precondition by the inverse Hessian of `value_fn` at `params`: `u = (H + damping I)^-1 g`.

    The lectures' Newton step `theta* = theta_0 - H^-1 grad J(theta_0)` once negated; with a
    line search it is the damped Newton method (N&W sec. 3.3, Algorithm 3.2). Two solvers:

    - `"dense"`: the Hessian of the flattened params by `jax.hessian`, O(n^2) memory and O(n^3)
      time, for small problems. Safeguard when H is not positive definite: eigenvalue
      modification, `lambda -> max(|lambda|, sqrt(eps) max|lambda|)` (N&W sec. 3.4; the
      saddle-free Newton of Dauphin et al. 2014), so the step always descends and is pushed away
      from saddle points rather than attracted to them.
    - `"cg"`: Newton-CG (N&W Algorithm 7.1): conjugate gradients on Hessian-vector products
      (never forming H), stopped when the residual is below `cg_rtol ||g||` (default: N&W's
      forcing sequence, `cg_rtol = min(0.5, sqrt||g||)`) and at the first direction of
      non-positive curvature (falling back to the gradient direction if that is the first one),
      for at most `max_cg_steps` iterations (default: n).
    - `"auto"` (default): dense when the params have at most `dense_max_size` entries.

    `damping` >= 0 adds `damping * I` to the (modified) Hessian: Levenberg's damping, which
    shortens the step towards gradient descent with learning rate `1/damping`. Needs `params`
    and `value_fn` (called as `value_fn(params, **extras it accepts)`).
    """
    validate.non_negative("damping", damping)
    if solver not in ("auto", "dense", "cg"):
        raise ValueError(f"solver must be 'auto', 'dense' or 'cg', got {solver!r}")
    if max_cg_steps is not None:
        validate.positive_int("max_cg_steps", max_cg_steps)
    if cg_rtol is not None:
        validate.in_range("cg_rtol", cg_rtol, 0.0, 1.0, low_open=True, high_open=True)
    validate.positive_int("dense_max_size", dense_max_size)

    def init(params):
        return ScaleByNewtonState(step_counter(), jnp.array(False), jnp.zeros([], jnp.int32))

    def update(updates, state, params=None, *, value_fn=None, **extra):
        require_extras("scale_by_newton", params=params, value_fn=value_fn)
        check_same_structure(updates, params, "updates", "params")
        fn = bind_value_fn(value_fn, extra)
        dtype = value_dtype(params)
        x, unravel_x = _flat(params, dtype)
        g, unravel_g = _flat(updates, dtype)

        def f_flat(flat):
            return jnp.asarray(fn(unravel_x(flat))).astype(dtype)

        dense = solver == "dense" or (solver == "auto" and x.size <= dense_max_size)
        if dense:
            direction, negative, steps = _dense_newton(f_flat, x, g, damping)
        else:
            direction, negative, steps = _newton_cg(
                f_flat, x, g, damping, max_cg_steps or x.size, cg_rtol
            )
        new_state = ScaleByNewtonState(safe_increment(state.count), negative, steps)
        return tree_cast_like(unravel_g(direction), updates), new_state

    return GradientTransformation(init, update)


# ----------------------------------------------------------------------------------------------
# BFGS
# ----------------------------------------------------------------------------------------------


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
    _check_params(params, updates, name)
    x, _ = _flat(params, dtype)
    g, unravel_g = _flat(updates, dtype)
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

    def init(params):
        dtype = value_dtype(params)
        x, _ = _flat(params, dtype)
        return ScaleByBfgsState(
            count=step_counter(),
            inv_hessian=jnp.eye(x.size, dtype=dtype),
            prev_params=jnp.zeros_like(x),
            prev_updates=jnp.zeros_like(x),
            num_updates=jnp.zeros([], jnp.int32),
        )

    def update(updates, state, params=None, **extra):
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
    direction (no pair stored yet) is `g / max(1, ||g||)` (scipy, optax). Should the
    direction stop descending (round-off), the memory is cleared. Defaults as optax and scipy
    (`memory_size=10`). Needs `params`.
    """
    validate.positive_int("memory_size", memory_size)

    def init(params):
        dtype = value_dtype(params)
        x, _ = _flat(params, dtype)
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
        else:
            gamma = jnp.ones([], dtype)
        first = _first_step_scale(g)
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


# ----------------------------------------------------------------------------------------------
# aliases
# ----------------------------------------------------------------------------------------------


def _descent(learning_rate: Any) -> GradientTransformation:
    """Negate the direction: `scale(-1)` before a line search, else the learning rate."""
    return scale(-1.0) if learning_rate is None else scale_by_learning_rate(learning_rate)


def _linesearch(linesearch: Any) -> GradientTransformation:
    """A line search from its name ('zoom', 'backtracking'), a transform, or None (none)."""
    if linesearch is None:
        return identity()
    if linesearch == "zoom":
        return scale_by_zoom_linesearch(max_linesearch_steps=30, initial_guess_strategy="one")
    if linesearch == "backtracking":
        return scale_by_backtracking_linesearch(
            max_backtracking_steps=40, decrease_factor=0.5, increase_factor=float("inf")
        )
    if isinstance(linesearch, str):
        raise ValueError(
            f"linesearch must be 'zoom', 'backtracking', None or a transform, got {linesearch!r}"
        )
    return linesearch


def newton(
    learning_rate: Any = None,
    *,
    damping: float = 0.0,
    solver: str = "auto",
    max_cg_steps: int | None = None,
    cg_rtol: float | None = None,
    linesearch: Any = "backtracking",
) -> GradientTransformation:
    """Damped Newton: `chain(scale_by_newton(damping, solver=...), scale(-1), linesearch)`.

    The default line search is backtracking from the full step 1, halving (N&W sec. 3.5);
    `learning_rate` replaces `scale(-1)` by `scale_by_learning_rate(learning_rate)`.
    """
    return chain(
        scale_by_newton(damping, solver=solver, max_cg_steps=max_cg_steps, cg_rtol=cg_rtol),
        _descent(learning_rate),
        _linesearch(linesearch),
    )


def bfgs(
    learning_rate: Any = None,
    *,
    scale_init_precond: bool = False,
    linesearch: Any = "zoom",
) -> GradientTransformation:
    """BFGS: `chain(scale_by_bfgs(), scale(-1), scale_by_zoom_linesearch(initial one))`."""
    return chain(
        scale_by_bfgs(scale_init_precond), _descent(learning_rate), _linesearch(linesearch)
    )


def lbfgs(
    learning_rate: Any = None,
    memory_size: int = 10,
    scale_init_precond: bool = True,
    *,
    linesearch: Any = "zoom",
) -> GradientTransformation:
    """L-BFGS: `chain(scale_by_lbfgs(memory_size), scale(-1), zoom line search)`, as optax."""
    return chain(
        scale_by_lbfgs(memory_size, scale_init_precond),
        _descent(learning_rate),
        _linesearch(linesearch),
    )
