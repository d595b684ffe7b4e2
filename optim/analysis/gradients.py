"""Gradient checks: a gradient against central finite differences (CS231n's advice)."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from _descent import validation
from _descent.dtypes import scalar_dtype
from optim._core.base import Params
from optim.analysis.curvature import flat_problem


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
        validation.integer("num_checks", num_checks, 1)
    if step is not None:
        validation.positive("step", step)
    # grad_fn is called as given (it may be NumPy code under test); the default is compiled.
    grad_fn = jax.jit(jax.grad(fun)) if grad_fn is None else grad_fn
    analytic = grad_fn(params)
    x = ravel_pytree(params)[0]
    if ravel_pytree(analytic)[0].shape != x.shape:
        raise ValueError(
            f"grad_fn returned {ravel_pytree(analytic)[0].size} entries for {x.size} parameters"
        )
    dtype = scalar_dtype(params)
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
    x, f, _ = flat_problem(fun, params)
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
