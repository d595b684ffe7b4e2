"""Curvature from Hessian-vector products: the Hessian, its top eigenvalue, condition numbers.

The eigenvalue is found from Hessian-vector products, never forming the Hessian, so it works
for any pytree of params (a network's weights): by power iteration or by the Lanczos method.
All functions take `fun(params) -> scalar` and any pytree `params`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from _descent import validation
from _descent.dtypes import scalar_dtype
from optim._core.base import Params
from optim.linalg import dominant_eigenpair


def flat_problem(fun: Callable, params: Params) -> tuple[jax.Array, Callable, Callable]:
    """The params as one vector (at least float32), `f` of that vector, and `unravel`."""
    flat, unravel = ravel_pytree(params)
    flat = flat.astype(scalar_dtype(params))

    def f(x):
        return jnp.asarray(fun(unravel(x))).astype(flat.dtype)

    return flat, f, unravel


def hessian_vector_product(fun: Callable, params: Params, vector: Params) -> Params:
    """`H v` for the Hessian `H` of `fun` at `params`, by forward-over-reverse differentiation
    (Pearlmutter 1994): one gradient's cost, never forming H. `vector` has the params' tree."""
    return jax.jit(lambda p, v: jax.jvp(jax.grad(fun), (p,), (v,))[1])(params, vector)


def hessian(fun: Callable, params: Params) -> jax.Array:
    """The dense `n x n` Hessian of `fun` with respect to the flattened params (small n only)."""
    flat, f, _ = flat_problem(fun, params)
    # Compiled: jax.hessian traced op by op would dispatch thousands of small operations.
    return jax.jit(jax.hessian(f))(flat)


def _hvp_flat(f: Callable, x: jax.Array) -> Callable[[jax.Array], jax.Array]:
    grad_f = jax.grad(f)
    return lambda v: jax.jvp(grad_f, (x,), (v,))[1].astype(x.dtype)


def _start_vector(key: jax.Array, n: int, dtype: Any) -> jax.Array:
    v = jax.random.normal(key, (n,), dtype)
    return v / jnp.linalg.norm(v)


class EigenResult(NamedTuple):
    """An eigenvalue estimate, its eigenvector (a pytree like the params) and the iterations."""

    eigenvalue: jax.Array
    eigenvector: Params
    num_iterations: jax.Array


def power_iteration(
    fun: Callable,
    params: Params,
    *,
    num_iterations: int = 200,
    tol: float = 1e-6,
    key: jax.Array | None = None,
) -> EigenResult:
    """The Hessian eigenvalue of largest magnitude by power iteration on `v <- H v / ||H v||`
    (`optim.linalg.dominant_eigenpair` on Hessian-vector products).

    The estimate is the Rayleigh quotient `v^T H v`; iteration stops when the residual
    `||H v - lambda v||` is below `tol |lambda|`, or after `num_iterations`. Converges at the rate
    `|lambda_2 / lambda_1|` per step (Golub & Van Loan, sec. 7.3). At a minimum the Hessian is
    positive semi-definite and this is `lambda_max`; elsewhere a negative eigenvalue of larger
    magnitude wins (use `hessian_eigenvalues` for both ends of the spectrum).
    """
    validation.integer("num_iterations", num_iterations, 1)
    validation.non_negative("tol", tol)
    key = jax.random.key(0) if key is None else key
    # One compiled program: traced op by op, the Hessian-vector products would dispatch slowly.
    return jax.jit(lambda p, k: _power_iteration(fun, p, k, num_iterations, tol))(params, key)


def _power_iteration(fun, params, key, num_iterations, tol):
    x, f, unravel = flat_problem(fun, params)
    hvp = _hvp_flat(f, x)
    start = _start_vector(key, x.size, x.dtype)
    value, v, steps = dominant_eigenpair(hvp, start, num_iterations, tol)
    return EigenResult(value, unravel(v), steps)


def hessian_eigenvalues(
    fun: Callable,
    params: Params,
    *,
    num_iterations: int = 30,
    key: jax.Array | None = None,
) -> jax.Array:
    """Ritz values of the Hessian by `num_iterations` Lanczos steps, in ascending order.

    The Lanczos method (Golub & Van Loan, Algorithm 10.1.1) builds an orthonormal basis of the
    Krylov space of H from a random start and the tridiagonal matrix T of H in it; T's
    eigenvalues approximate H's extreme eigenvalues first, typically far faster than power
    iteration. Full reorthogonalization keeps the basis orthogonal in floating point; after a
    breakdown (an invariant subspace found) it restarts from a fresh random vector orthogonal
    to the basis. With `num_iterations >= n` (capped at n) the values are H's eigenvalues.
    """
    validation.integer("num_iterations", num_iterations, 1)
    key = jax.random.key(0) if key is None else key
    return jax.jit(lambda p, k: _lanczos(fun, p, k, num_iterations))(params, key)


def _lanczos(fun, params, key, num_iterations):
    x, f, _ = flat_problem(fun, params)
    hvp = _hvp_flat(f, x)
    n = x.size
    k = min(num_iterations, n)
    eps = jnp.finfo(x.dtype).eps

    def orthogonalize(w, basis):
        # Twice is enough (Giraud et al. 2005, "twice is enough" for Gram-Schmidt).
        w = w - basis.T @ (basis @ w)
        return w - basis.T @ (basis @ w)

    def step(j, carry):
        basis, alphas, betas, v, v_prev, beta_prev = carry
        basis = basis.at[j].set(v)
        w = hvp(v)
        scale = jnp.linalg.norm(w)
        alpha = v @ w
        w = orthogonalize(w - alpha * v - beta_prev * v_prev, basis)
        beta = jnp.linalg.norm(w)
        breakdown = beta <= jnp.sqrt(eps) * scale
        fresh = orthogonalize(
            jax.random.normal(jax.random.fold_in(key, j + 1), (n,), x.dtype), basis
        )
        fresh = fresh / jnp.linalg.norm(fresh)
        v_next = jnp.where(breakdown, fresh, w / jnp.where(breakdown, 1.0, beta))
        beta = jnp.where(breakdown, 0.0, beta)
        return basis, alphas.at[j].set(alpha), betas.at[j].set(beta), v_next, v, beta

    zeros = jnp.zeros((k,), x.dtype)
    start = (
        jnp.zeros((k, n), x.dtype), zeros, zeros,
        _start_vector(key, n, x.dtype), jnp.zeros((n,), x.dtype), jnp.zeros([], x.dtype),
    )
    _, alphas, betas, _, _, _ = jax.lax.fori_loop(0, k, step, start)
    tridiagonal = jnp.diag(alphas) + jnp.diag(betas[:-1], 1) + jnp.diag(betas[:-1], -1)
    return jnp.linalg.eigvalsh(tridiagonal)


def top_hessian_eigenvalue(
    fun: Callable,
    params: Params,
    *,
    method: str = "lanczos",
    num_iterations: int | None = None,
    key: jax.Array | None = None,
) -> jax.Array:
    """The largest Hessian eigenvalue `lambda_max` of `fun` at `params`.

    `method="lanczos"` (default; 30 iterations) returns the largest Ritz value,
    `method="power"` (200 iterations at most) the power-iteration estimate (largest in
    magnitude, see `power_iteration`).
    """
    if method == "lanczos":
        values = hessian_eigenvalues(fun, params, num_iterations=num_iterations or 30, key=key)
        return values[-1]
    if method == "power":
        result = power_iteration(fun, params, num_iterations=num_iterations or 200, key=key)
        return result.eigenvalue
    raise ValueError(f"method must be 'lanczos' or 'power', got {method!r}")


def condition_number(matrix: jax.Array) -> jax.Array:
    """`sigma_max / sigma_min`, the ratio of the extreme singular values (the lectures'
    definition; for a symmetric positive definite Hessian, `lambda_max / lambda_min`).
    Infinite for a singular matrix. For a Hessian: `condition_number(hessian(fun, params))`."""
    matrix = jnp.asarray(matrix)
    if matrix.ndim != 2:
        raise ValueError(f"condition_number needs a matrix, got shape {matrix.shape}")
    singular = jnp.linalg.svd(matrix, compute_uv=False)
    return jnp.where(singular[-1] > 0, singular[0] / singular[-1], jnp.inf)
