"""Convergence analysis: curvature, the optimal learning rate, gradient checks, LR range tests.

The lectures' analysis of gradient descent on a quadratic: with `lambda_max` the largest
eigenvalue of the Hessian, the learning rate `eta_opt = 1 / lambda_max` is optimal along the
stiffest direction, and gradient descent

- converges monotonically for `eta < eta_opt`,
- converges with oscillations for `eta_opt < eta < 2 eta_opt`,
- diverges for `eta > 2 eta_opt`

(each coordinate along an eigenvector is multiplied by `1 - eta lambda` per step). The
eigenvalue is found from Hessian-vector products, never forming the Hessian, so it works for
any pytree of params (a network's weights): by power iteration or by the Lanczos method.
All functions take `fun(params) -> scalar` and any pytree `params`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from optim import validate
from optim.base import Params
from optim.combine import call_update
from optim.linesearch import value_dtype

__all__ = [
    "EigenResult",
    "LRRangeResult",
    "condition_number",
    "gradient_check",
    "hessian",
    "hessian_eigenvalues",
    "hessian_vector_product",
    "learning_rate_regime",
    "lr_range_test",
    "optimal_learning_rate",
    "power_iteration",
    "top_hessian_eigenvalue",
]


def _flat_problem(fun: Callable, params: Params) -> tuple[jax.Array, Callable, Callable]:
    """The params as one vector (at least float32), `f` of that vector, and `unravel`."""
    flat, unravel = ravel_pytree(params)
    flat = flat.astype(value_dtype(params))

    def f(x):
        return jnp.asarray(fun(unravel(x))).astype(flat.dtype)

    return flat, f, unravel


def hessian_vector_product(fun: Callable, params: Params, vector: Params) -> Params:
    """`H v` for the Hessian `H` of `fun` at `params`, by forward-over-reverse differentiation
    (Pearlmutter 1994): one gradient's cost, never forming H. `vector` has the params' tree."""
    return jax.jit(lambda p, v: jax.jvp(jax.grad(fun), (p,), (v,))[1])(params, vector)


def hessian(fun: Callable, params: Params) -> jax.Array:
    """The dense `n x n` Hessian of `fun` with respect to the flattened params (small n only)."""
    flat, f, _ = _flat_problem(fun, params)
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
    """The Hessian eigenvalue of largest magnitude by power iteration on `v <- H v / ||H v||`.

    The estimate is the Rayleigh quotient `v^T H v`; iteration stops when it changes by less
    than `tol` relative, or after `num_iterations`. Converges at the rate
    `|lambda_2 / lambda_1|` per step (Golub & Van Loan, sec. 7.3). At a minimum the Hessian is
    positive semi-definite and this is `lambda_max`; elsewhere a negative eigenvalue of larger
    magnitude wins (use `hessian_eigenvalues` for both ends of the spectrum).
    """
    validate.positive_int("num_iterations", num_iterations)
    validate.non_negative("tol", tol)
    key = jax.random.key(0) if key is None else key
    # One compiled program: traced op by op, the Hessian-vector products would dispatch slowly.
    return jax.jit(lambda p, k: _power_iteration(fun, p, k, num_iterations, tol))(params, key)


def _power_iteration(fun, params, key, num_iterations, tol):
    x, f, unravel = _flat_problem(fun, params)
    hvp = _hvp_flat(f, x)
    v0 = _start_vector(key, x.size, x.dtype)

    def cond(carry):
        i, _, value, previous = carry
        change = jnp.abs(value - previous) > tol * jnp.abs(value)
        return (i < num_iterations) & ((i < 2) | change)

    def body(carry):
        i, v, value, _ = carry
        hv = hvp(v)
        norm = jnp.linalg.norm(hv)
        new_v = jnp.where(norm > 0, hv / jnp.where(norm > 0, norm, 1.0), v)
        return i + 1, new_v, v @ hv, value

    start = (jnp.zeros([], jnp.int32), v0, jnp.asarray(jnp.inf, x.dtype), jnp.asarray(0, x.dtype))
    steps, v, value, _ = jax.lax.while_loop(cond, body, start)
    # The Rayleigh quotient of the final vector.
    value = v @ hvp(v)
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
    validate.positive_int("num_iterations", num_iterations)
    key = jax.random.key(0) if key is None else key
    return jax.jit(lambda p, k: _lanczos(fun, p, k, num_iterations))(params, key)


def _lanczos(fun, params, key, num_iterations):
    x, f, _ = _flat_problem(fun, params)
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


def optimal_learning_rate(fun: Callable, params: Params, **kwargs: Any) -> jax.Array:
    """`eta_opt = 1 / lambda_max`: the lectures' optimal learning rate of gradient descent on a
    quadratic (exact there; a local estimate elsewhere). Keywords go to
    `top_hessian_eigenvalue`."""
    return 1.0 / top_hessian_eigenvalue(fun, params, **kwargs)


def learning_rate_regime(learning_rate: float, lambda_max: float) -> str:
    """Gradient descent's behaviour on a quadratic with top curvature `lambda_max`.

    With `r = learning_rate * lambda_max` (the lectures' `eta / eta_opt`): `"monotone"` for
    r < 1, `"optimal"` for r = 1 (one step along the stiffest direction), `"oscillating"` for
    1 < r < 2 (converges, alternating sign), `"periodic"` for r = 2 (oscillates forever) and
    `"divergent"` for r > 2.
    """
    validate.positive("learning_rate", learning_rate)
    validate.positive("lambda_max", lambda_max)
    r = float(learning_rate) * float(lambda_max)
    if math.isclose(r, 1.0, rel_tol=1e-12):
        return "optimal"
    if math.isclose(r, 2.0, rel_tol=1e-12):
        return "periodic"
    if r < 1.0:
        return "monotone"
    return "oscillating" if r < 2.0 else "divergent"


def condition_number(matrix: jax.Array) -> jax.Array:
    """`sigma_max / sigma_min`, the ratio of the extreme singular values (the lectures'
    definition; for a symmetric positive definite Hessian, `lambda_max / lambda_min`).
    Infinite for a singular matrix. For a Hessian: `condition_number(hessian(fun, params))`."""
    matrix = jnp.asarray(matrix)
    if matrix.ndim != 2:
        raise ValueError(f"condition_number needs a matrix, got shape {matrix.shape}")
    singular = jnp.linalg.svd(matrix, compute_uv=False)
    return jnp.where(singular[-1] > 0, singular[0] / singular[-1], jnp.inf)


def gradient_check(
    fun: Callable,
    params: Params,
    grad_fn: Callable[[Params], Params] | None = None,
    *,
    step: float | None = None,
    num_checks: int | None = None,
    key: jax.Array | None = None,
) -> jax.Array:
    """The largest relative error between a gradient and central finite differences.

    For each checked coordinate i of the flattened params (all, or `num_checks` drawn at random
    with `key`), the numerical derivative is `(f(x + h e_i) - f(x - h e_i)) / (2h)` with
    `h = step * max(1, |x_i|)` and `step` defaulting to `eps**(1/3)` of the params' dtype, the
    choice that balances truncation and rounding error (N&W sec. 8.1). The relative error is

        |g_i - n_i| / max(|g_i|, |n_i|, floor),    floor = 100 eps max(1, |f(x)|) / h,

    the floor being a hundred times the rounding noise of the difference quotient, so that
    entries that are zero up to noise do not count as errors. `grad_fn` (default
    `jax.grad(fun)`) is the gradient under test. Returns the maximum over the checked
    coordinates. Rule of thumb (CS231n): in float64 below 1e-7 is right, above 1e-2 is wrong.
    In float32 the differences themselves are only good to about eps**(2/3) ~ 2e-5 of f, so a
    right gradient can show errors of a few 1e-2 on its small entries: run under
    `jax.enable_x64` for a sharp check.
    """
    if num_checks is not None:
        validate.positive_int("num_checks", num_checks)
    if step is not None:
        validate.positive("step", step)
    # grad_fn is called as given (it may be NumPy code under test); the default is compiled.
    grad_fn = jax.jit(jax.grad(fun)) if grad_fn is None else grad_fn
    analytic = grad_fn(params)
    x = ravel_pytree(params)[0]
    if ravel_pytree(analytic)[0].shape != x.shape:
        raise ValueError(
            f"grad_fn returned {ravel_pytree(analytic)[0].size} entries for {x.size} parameters"
        )
    dtype = value_dtype(params)
    base_step = float(jnp.finfo(dtype).eps) ** (1.0 / 3.0) if step is None else float(step)
    if num_checks is None or num_checks >= x.size:
        indices = jnp.arange(x.size)
    else:
        key = jax.random.key(0) if key is None else key
        indices = jax.random.choice(key, x.size, (num_checks,), replace=False)
    return jax.jit(lambda p, g, i: _gradient_check(fun, p, g, i, base_step))(
        params, analytic, indices
    )


def _gradient_check(fun, params, analytic, indices, base_step):
    x, f, _ = _flat_problem(fun, params)
    analytic = ravel_pytree(analytic)[0].astype(x.dtype)
    eps = jnp.finfo(x.dtype).eps

    def numeric(i):
        h = base_step * jnp.maximum(1.0, jnp.abs(x[i]))
        plus, minus = x.at[i].add(h), x.at[i].add(-h)
        # The steps actually taken after rounding (N&W sec. 8.1).
        return (f(plus) - f(minus)) / (plus[i] - minus[i]), h

    numerical, steps = jax.lax.map(numeric, indices)
    g = analytic[indices]
    floor = 100.0 * eps * jnp.maximum(1.0, jnp.abs(f(x))) / steps
    error = jnp.abs(g - numerical) / jnp.maximum(jnp.maximum(jnp.abs(g), jnp.abs(numerical)), floor)
    return jnp.max(error)


class LRRangeResult(NamedTuple):
    """The curve of an LR range test: loss (raw and smoothed) at each learning rate tried,
    the suggested learning rate (steepest descent of the smoothed loss against log lr), the
    learning rate of the lowest smoothed loss, and whether the loss blew up (the test stops)."""

    learning_rates: np.ndarray
    losses: np.ndarray
    smoothed_losses: np.ndarray
    suggested_learning_rate: float
    min_loss_learning_rate: float
    diverged: bool


def lr_range_test(
    loss_fn: Callable[..., Any],
    params: Params,
    optimizer_factory: Callable[[Any], Any],
    batches: Iterable[Any] | None = None,
    *,
    min_lr: float = 1e-7,
    max_lr: float = 10.0,
    num_steps: int = 100,
    smoothing: float | None = None,
    diverge_factor: float = 4.0,
) -> LRRangeResult:
    """The learning-rate range test (Smith 2017, "Cyclical learning rates", sec. 3.3).

    Train from `params` for `num_steps` steps while the learning rate grows exponentially from
    `min_lr` to `max_lr` (`lr_t = min_lr (max_lr / min_lr)^(t / (num_steps - 1))`), recording
    the loss before each step. `optimizer_factory(learning_rate)` builds the optimizer (e.g.
    `optim.sgd` or `lambda lr: optim.adam(lr, b1=0.9)`); it is called with a traced scalar
    inside one jitted step, so the run compiles once. `loss_fn(params, batch)` is evaluated on
    successive items of `batches` (cycled if shorter than `num_steps`), or `loss_fn(params)`
    when `batches` is None.

    The losses are smoothed by a debiased exponential moving average (`smoothing`, default 0.9
    with batches, 0 for a fixed loss), and the test stops once the smoothed loss exceeds
    `diverge_factor` times its minimum or is not finite. The suggestion is the learning rate
    where the smoothed loss falls fastest against log(lr), before its minimum (fastai's
    "steepest" rule); Smith suggests a range up to where the loss starts to rise.
    """
    validate.positive("min_lr", min_lr)
    validate.in_range("max_lr", max_lr, float(min_lr), low_open=True)
    validate.positive_int("num_steps", num_steps)
    if num_steps < 2:
        raise ValueError(f"num_steps must be at least 2, got {num_steps}")
    validate.in_range("diverge_factor", diverge_factor, 1.0, low_open=True)
    if smoothing is None:
        smoothing = 0.0 if batches is None else 0.9
    validate.decay_rate("smoothing", smoothing)

    learning_rates = min_lr * (max_lr / min_lr) ** (np.arange(num_steps) / (num_steps - 1))
    has_batches = batches is not None
    state = optimizer_factory(float(min_lr)).init(params)

    @jax.jit
    def train_step(params, state, learning_rate, batch):
        tx = optimizer_factory(learning_rate)
        args = (batch,) if has_batches else ()
        loss, grads = jax.value_and_grad(loss_fn)(params, *args)
        updates, state = call_update(
            tx, grads, state, params,
            {"value": loss, "grad": grads, "value_fn": lambda p: loss_fn(p, *args)},
        )
        new_params = jax.tree.map(
            lambda p, u: (p + u).astype(jnp.result_type(p)), params, updates
        )
        return new_params, state, loss

    stream = itertools.cycle(batches) if has_batches else itertools.repeat(None)
    losses, smoothed = [], []
    average, best, diverged = 0.0, math.inf, False
    for t, (lr, batch) in enumerate(zip(learning_rates, stream, strict=False)):
        lr_array = jnp.asarray(lr, value_dtype(params))
        params, state, loss = train_step(params, state, lr_array, batch)
        loss = float(loss)
        losses.append(loss)
        average = smoothing * average + (1.0 - smoothing) * loss
        value = average / (1.0 - smoothing ** (t + 1))
        smoothed.append(value)
        best = min(best, value)
        if not math.isfinite(value) or value > diverge_factor * best:
            diverged = True
            break

    tried = learning_rates[: len(losses)]
    curve = np.asarray(smoothed)
    finite = np.isfinite(curve)
    lowest = int(np.argmin(np.where(finite, curve, np.inf)))
    if lowest >= 1:
        slopes = np.gradient(curve[: lowest + 1], np.log(tried[: lowest + 1]))
        steepest = int(np.argmin(slopes))
    else:
        steepest = 0
    return LRRangeResult(
        learning_rates=tried,
        losses=np.asarray(losses),
        smoothed_losses=curve,
        suggested_learning_rate=float(tried[steepest]),
        min_loss_learning_rate=float(tried[lowest]),
        diverged=diverged,
    )
