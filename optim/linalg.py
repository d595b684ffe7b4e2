"""Linear algebra under optax's names: the dominant eigenpair, the inverse p-th root of Shampoo,
non-negative least squares.

    power_iteration(matrix)               (lambda, v) of largest |lambda|, matrix or A(v) on trees
    matrix_inverse_pth_root(matrix, p)    (matrix^(-1/p), error) by coupled Newton iterations
    nnls(A, b, iters)                     argmin_{x >= 0} ||A x - b|| by fast projected gradient

Each is one `lax` loop, so it jits; `optim.analysis.power_iteration` runs the same iteration on
Hessian-vector products (`dominant_eigenpair`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax
from jax.typing import ArrayLike

from _descent import validation
from optim.tree import tree_global_norm, tree_scale, tree_sub, tree_vdot


def _normalized(tree: Any) -> Any:
    return tree_scale(1.0 / tree_global_norm(tree), tree)


def dominant_eigenpair(
    mvp: Callable[[Any], Any], v0: Any, num_iters: ArrayLike, error_tolerance: ArrayLike
) -> tuple[jax.Array, Any, jax.Array]:
    """Power iteration `v <- A v / ||A v||` on any pytree `v`, `A` given as `mvp(v) = A v`.

    The estimate is the Rayleigh quotient `lambda = v^T A v` (v of unit norm); the loop stops
    when the residual `||A v - lambda v|| < error_tolerance |lambda|` or after `num_iters`
    products. Converges at the rate `|lambda_2 / lambda_1|` per step (Golub & Van Loan 2013,
    sec. 7.3.1). Returns `(lambda, A v / ||A v||, number of iterations)`.
    """
    v = _normalized(v0)
    av = mvp(v)

    def cond(carry):
        v, av, value, i = carry
        residual = tree_global_norm(tree_sub(av, tree_scale(value, v)))
        # Before the first estimate (value 0) the ratio is inf or NaN: not converged.
        converged = jnp.abs(residual / value) < error_tolerance
        return ~converged & (i < num_iters)

    def body(carry):
        _, av, _, i = carry
        v = _normalized(av)
        av = mvp(v)
        return v, av, tree_vdot(v, av), i + 1

    dtype = jnp.result_type(*jax.tree.leaves(av))
    start = (v, av, jnp.zeros([], dtype), jnp.zeros([], jnp.int32))
    _, av, value, steps = lax.while_loop(cond, body, start)
    return value, _normalized(av), steps


def power_iteration(
    matrix: ArrayLike | Callable[[Any], Any],
    *,
    v0: Any = None,
    num_iters: ArrayLike = 100,
    error_tolerance: ArrayLike = 1e-6,
    precision: lax.Precision = lax.Precision.HIGHEST,
    key: jax.Array | None = None,
) -> tuple[jax.Array, Any]:
    """The dominant eigenvalue (largest in magnitude) of a diagonalizable matrix and its
    eigenvector, as optax's `power_iteration`: `(eigenvalue, eigenvector)`.

    `matrix` is an `(n, n)` array or a function `v -> A v` on pytrees (then `v0`, a pytree of
    the function's input structure, is required). Without `v0` the start is uniform in
    [-1, 1]^n drawn with `key` (default `jax.random.PRNGKey(0)`). Iterates `v <- A v / ||A v||`
    until the residual `||A v - lambda v||` is below `error_tolerance |lambda|` or for
    `num_iters` products (see `dominant_eigenpair`). `precision` is the matmul's.
    """
    if callable(matrix):
        if v0 is None:
            raise ValueError(
                "power_iteration needs v0 (a pytree like the function's input) when matrix is "
                "a function"
            )
        mvp = matrix
    else:
        matrix = jnp.asarray(matrix)
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
            raise ValueError(
                f"power_iteration needs a square matrix, got shape {matrix.shape}"
            )
        if v0 is None:
            key = jax.random.PRNGKey(0) if key is None else key
            v0 = jax.random.uniform(
                key, matrix.shape[-1:], matrix.dtype, minval=-1.0, maxval=1.0
            )

        def mvp(v):
            return jnp.matmul(matrix, v, precision=precision)

    value, vector, _ = dominant_eigenpair(mvp, v0, num_iters, error_tolerance)
    return value, vector


def _matrix_power(m: jax.Array, p: int, precision: lax.Precision) -> jax.Array:
    """`m^p` by repeated squaring: about `2 log2 p` products."""
    result, square = None, m
    while True:
        if p & 1:
            result = square if result is None else jnp.matmul(result, square, precision=precision)
        p >>= 1
        if not p:
            return result
        square = jnp.matmul(square, square, precision=precision)


def matrix_inverse_pth_root(
    matrix: ArrayLike,
    p: int,
    num_iters: ArrayLike = 100,
    ridge_epsilon: ArrayLike = 1e-6,
    error_tolerance: ArrayLike = 1e-6,
    precision: lax.Precision = lax.Precision.HIGHEST,
) -> tuple[jax.Array, jax.Array]:
    """`(A + eps I)^(-1/p)` of a symmetric positive semi-definite `A` and the final error, by
    the coupled Newton iteration of Shampoo (Gupta et al. 2018; Anil et al. 2020), as optax's.

    With `eps = ridge_epsilon * max(lambda_max(A), 1e-16)` (`lambda_max` by `power_iteration`),
    `z = (1 + p) / (2 ||A + eps I||_F)`, `M_0 = z (A + eps I)` and `H_0 = z^(1/p) I`, each step
    (Higham 2008, "Functions of Matrices", eq. 7.18; Guo & Higham 2006) is

        T = ((p + 1) I - M_k) / p,    M_{k+1} = T^p M_k,    H_{k+1} = H_k T,

    so `M_k -> I` and `H_k -> (A + eps I)^(-1/p)`. It stops when the error `max |M_k - I|` is
    at most `error_tolerance`, after `num_iters` steps, or when a step raises the error more
    than 1.2 times (the iterate before that step is returned). A 1 x 1 matrix gets the closed
    form. `p` is any positive integer (a Python int: it sets the number of products).
    """
    p = validation.integer("p", p, 1)
    matrix = jnp.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(
            f"matrix_inverse_pth_root needs a square matrix, got shape {matrix.shape}"
        )
    n = matrix.shape[0]
    exponent = -1.0 / p
    max_ev, _ = power_iteration(matrix, num_iters=100, error_tolerance=1e-6, precision=precision)
    ridge = ridge_epsilon * jnp.maximum(max_ev, 1e-16)
    if n == 1:
        return (matrix + ridge) ** exponent, jnp.zeros([], matrix.dtype)

    identity = jnp.eye(n, dtype=matrix.dtype)
    damped = matrix + ridge * identity
    z = (1 + p) / (2 * jnp.linalg.norm(damped))
    m0 = damped * z
    h0 = identity * z ** (1.0 / p)

    def error_of(m):
        return jnp.max(jnp.abs(m - identity))

    def cond(carry):
        i, _, _, _, error, improving = carry
        return (i < num_iters) & (error > error_tolerance) & improving

    def body(carry):
        i, m, h, _, error, _ = carry
        t = (1 - exponent) * identity + exponent * m
        new_m = jnp.matmul(_matrix_power(t, p, precision), m, precision=precision)
        new_h = jnp.matmul(h, t, precision=precision)
        new_error = error_of(new_m)
        # The error may rise for a step before it falls; more than 1.2 times means divergence.
        return i + 1, new_m, new_h, h, new_error, new_error < 1.2 * error

    start = (jnp.zeros([], jnp.int32), m0, h0, h0, error_of(m0), jnp.array(True))
    _, m, h, previous_h, _, improving = lax.while_loop(cond, body, start)
    root = jnp.where(improving, h, previous_h).astype(matrix.dtype)
    return root, error_of(m)


def _spectral_bound(q: jax.Array) -> jax.Array:
    """An upper bound of the spectral radius of `q`: the smaller of its Frobenius and 1-norms."""
    if q.size == 0:
        return jnp.zeros([], q.dtype)
    return jnp.minimum(jnp.linalg.norm(q, "fro"), jnp.linalg.norm(q, 1))


def nnls(
    A: ArrayLike,  # noqa: N803 (optax's argument names)
    b: ArrayLike,
    iters: int,
    unroll: int | bool = 1,
    L: ArrayLike | None = None,  # noqa: N803
) -> jax.Array:
    """Non-negative least squares `argmin_{x >= 0} ||A x - b||_2` by the fast projected
    gradient method (Polyak 2015, "Projected gradient method for non-negative least square"),
    as optax's `nnls`.

    With `Q = A^T A`, `q = A^T b` and `L` an upper bound of `Q`'s spectral radius (default: the
    smaller of its Frobenius and 1-norms), from `x_0 = p_0 = 0`, `c_0 = 0`, each of the `iters`
    steps (one `lax.scan`, `unroll` passed on) is a Nesterov-accelerated projected step:

        c' = (1 + sqrt(1 + 4 c^2)) / 2,    x' = max(p - (Q p - q) / L, 0),
        p' = x' + (c - 1) / c' (x' - x).

    `b` is a vector `(M,)` (the result `(N,)`) or a matrix `(M, K)` (K problems, `(N, K)`).
    """
    A, b = jnp.asarray(A), jnp.asarray(b)  # noqa: N806
    if A.ndim != 2:
        raise ValueError(f"nnls needs A to be a matrix (M, N), got shape {A.shape}")
    if b.ndim not in (1, 2) or b.shape[0] != A.shape[0]:
        raise ValueError(
            f"nnls needs b of shape (M,) or (M, K) with M = A.shape[0] = {A.shape[0]}, got "
            f"shape {b.shape}"
        )
    iters = validation.integer("iters", iters, 0)
    Q = A.mT @ A  # noqa: N806
    q = A.mT @ b
    L = _spectral_bound(Q) if L is None else jnp.asarray(L)  # noqa: N806
    L = jnp.where(L == 0, 1, L)  # noqa: N806  (A = 0: any step works, avoid 0 / 0)

    def step(carry, _):
        x, p, c = carry
        c_next = (1 + jnp.sqrt(1 + 4 * c**2)) / 2
        x_next = jnp.maximum(p - (Q @ p - q) / L, 0)
        p_next = x_next + (c - 1) / c_next * (x_next - x)
        return (x_next, p_next, c_next), None

    x0 = jnp.zeros(A.shape[-1:] + b.shape[1:], jnp.result_type(A, b))
    c0 = jnp.zeros([], x0.dtype)
    (x, _, _), _ = lax.scan(step, (x0, x0, c0), length=iters, unroll=unroll)
    return x
