"""Damped Newton as a transform: `scale_by_newton` turns the gradient `g` into `H^-1 g`.

The Hessian is that of `value_fn` at `params` (both needed by `update`; see `objective.py`),
dense for small problems or by Hessian-vector products (Newton-CG) for large ones. The
`newton` alias (`optim/aliases/second_order.py`) negates the direction and picks the step with
a backtracking line search.
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
from optim.second_order.objective import (
    bind_value_fn,
    check_params,
    flat_vector,
    require_extras,
)
from optim.tree import tree_cast_like


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
    validation.non_negative("damping", damping)
    if solver not in ("auto", "dense", "cg"):
        raise ValueError(f"solver must be 'auto', 'dense' or 'cg', got {solver!r}")
    if max_cg_steps is not None:
        validation.integer("max_cg_steps", max_cg_steps, 1)
    if cg_rtol is not None:
        validation.in_range("cg_rtol", cg_rtol, 0.0, 1.0, low_open=True, high_open=True)
    validation.integer("dense_max_size", dense_max_size, 1)

    def init(params):
        check_real(params, "scale_by_newton")
        return ScaleByNewtonState(step_counter(), jnp.array(False), jnp.zeros([], jnp.int32))

    def update(updates, state, params=None, *, value_fn=None, **extra):
        check_state(state, ScaleByNewtonState, "scale_by_newton")
        check_params(params, updates, "scale_by_newton")
        require_extras("scale_by_newton", value_fn=value_fn)
        fn = bind_value_fn(value_fn, extra)
        dtype = scalar_dtype(params)
        x, unravel_x = flat_vector(params, dtype)
        g, unravel_g = flat_vector(updates, dtype)

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
