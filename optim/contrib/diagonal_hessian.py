"""Sophia (Liu, Li, Hall, Liang & Ma 2023, "Sophia: A Scalable Stochastic Second-order
Optimizer for Language Model Pre-training") and Hutchinson's estimator of the Hessian's
diagonal that it uses by default (Sophia-H)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from _descent import validation
from optim._core.base import GradientTransformation, ScalarOrSchedule
from optim._core.combine import call_update, chain
from optim._core.masks import MaskOrFn
from optim._core.precision import check_state_dtype
from optim._core.steps import safe_increment, step_counter
from optim._core.structure import as_transform, check_state, check_updates, require_params
from optim.transforms.regularization import add_decayed_weights
from optim.transforms.scaling import scale_by_learning_rate
from optim.tree import bias_correction, tree_cast, tree_zeros_like, update_moment


class HutchinsonState(NamedTuple):
    key: jax.Array


def _lowest_dtype(params: Any) -> Any:
    dtypes = [jnp.result_type(p) for p in jax.tree.leaves(params)]
    return min(dtypes, key=lambda d: jnp.dtype(d).itemsize) if dtypes else jnp.float32


def hutchinson_estimator_diag_hessian(random_seed: jax.Array | None = None
                                      ) -> GradientTransformation:
    """An unbiased estimate of the Hessian's diagonal (Hutchinson 1990; Bekas et al. 2007):

        z ~ Rademacher (+-1 entries),    diag(H) ~ z * (H z)

    with `H z` a Hessian-vector product of `obj_fn` (forward over reverse) at the params.
    `update(grads, state, params, obj_fn=f)` ignores the grads and returns the estimate;
    `f(params)` is the scalar loss. `random_seed` is a PRNG key (default `PRNGKey(0)`); the
    state keeps it and splits it every call, one key per leaf, as optax 0.2.8 does.
    """
    if random_seed is not None and not isinstance(random_seed, jax.Array):
        raise TypeError(f"random_seed must be a PRNG key (jax.random.PRNGKey(seed)) or None, "
                        f"got {random_seed!r}")

    def init(params):
        key = jax.random.PRNGKey(0) if random_seed is None else random_seed
        return HutchinsonState(key=key)

    def update(updates, state, params=None, *, obj_fn: Callable | None = None, **extra):
        check_state(state, HutchinsonState, "hutchinson_estimator_diag_hessian")
        require_params(params, "hutchinson_estimator_diag_hessian")
        if obj_fn is None:
            raise TypeError("hutchinson_estimator_diag_hessian needs the objective: call "
                            "update(grads, state, params, obj_fn=lambda params: loss)")
        key, sample = jax.random.split(state.key)
        leaves, treedef = jax.tree.flatten(params)
        keys = jax.random.split(sample, len(leaves))
        dtype = _lowest_dtype(params)
        signs = treedef.unflatten([
            jax.random.rademacher(k, jnp.shape(p), jnp.float32).astype(dtype)
            for k, p in zip(keys, leaves, strict=True)])
        hvp = jax.jvp(jax.grad(obj_fn), (params,), (signs,))[1]
        return jax.tree.map(lambda h, z: h * z, hvp, signs), HutchinsonState(key=key)

    return GradientTransformation(init, update)


class SophiaState(NamedTuple):
    count: jax.Array
    mu: Any
    nu: Any
    hessian_fn_state: Any


def scale_by_sophia(
    b1: float = 0.965,
    b2: float = 0.99,
    eps: float = 1e-8,
    gamma: float = 0.01,
    clip_threshold: float | None = 1.0,
    update_interval: int = 10,
    hessian_diagonal_fn: GradientTransformation | None = None,
    mu_dtype: Any = None,
) -> GradientTransformation:
    """Sophia's clipped, Hessian-preconditioned momentum (Liu et al. 2023, Algorithm 1):

        m_t = b1 m_{t-1} + (1 - b1) g_t,    m^_t = m_t / (1 - b1^t)
        u_t = clip(m^_t / max(gamma h_{t-1}, eps), -clip_threshold, clip_threshold)
        every `update_interval` steps (t - 1 = 0, k, 2k, ...):
            h_t = b2 h_{t-1} + (1 - b2) hessian_diagonal_fn(g_t, params, **extra)

    Departs from the paper as optax 0.2.8 does, which is followed: the momentum is
    bias-corrected, the clip is of the ratio itself at `clip_threshold` (the paper clips at
    1 and scales by the learning rate after, the same for the default), the ratio uses the
    previous step's `h` (h_0 = 0, so the first step is `clip_threshold * sign(g)`), and the
    default estimator draws Rademacher rather than Gaussian vectors.
    """
    for name, rate in (("b1", b1), ("b2", b2)):
        validation.fixed_number(name, rate)
        validation.decay_rate(name, rate)
    validation.fixed_number("eps", eps)
    validation.non_negative("eps", eps)
    validation.fixed_number("gamma", gamma)
    validation.positive("gamma", gamma)
    if clip_threshold is not None:
        validation.fixed_number("clip_threshold", clip_threshold)
        validation.positive("clip_threshold", clip_threshold)
    interval = validation.integer("update_interval", update_interval, 1)
    check_state_dtype("mu_dtype", mu_dtype)
    estimator = (hutchinson_estimator_diag_hessian() if hessian_diagonal_fn is None
                 else as_transform(hessian_diagonal_fn, "hessian_diagonal_fn"))

    def init(params):
        return SophiaState(step_counter(), tree_zeros_like(params, mu_dtype),
                           tree_zeros_like(params), estimator.init(params))

    def update(updates, state, params=None, **extra):
        check_state(state, SophiaState, "sophia")
        require_params(params, "sophia")
        check_updates(updates, state.nu, "state.nu")
        count = safe_increment(state.count)
        mu = update_moment(updates, state.mu, b1, 1)
        ratio = jax.tree.map(lambda m, h: m / jnp.maximum(gamma * h, eps),
                             bias_correction(mu, b1, count), state.nu)
        if clip_threshold is not None:
            ratio = jax.tree.map(lambda r: jnp.clip(r, -clip_threshold, clip_threshold), ratio)
        out = jax.tree.map(lambda r, g: r.astype(g.dtype), ratio, updates)

        def refresh(hessian_state, nu):
            diagonal, hessian_state = call_update(estimator, updates, hessian_state, params,
                                                  extra)
            return hessian_state, update_moment(diagonal, nu, b2, 1)

        hessian_state, nu = jax.lax.cond(state.count % interval == 0, refresh,
                                         lambda h, n: (h, n), state.hessian_fn_state, state.nu)
        return out, SophiaState(count, tree_cast(mu, mu_dtype), nu, hessian_state)

    return GradientTransformation(init, update)


def sophia(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.965,
    b2: float = 0.99,
    eps: float = 1e-8,
    weight_decay: ScalarOrSchedule = 1e-4,
    weight_decay_mask: MaskOrFn = None,
    gamma: float = 0.01,
    clip_threshold: float | None = 1.0,
    update_interval: int = 10,
    hessian_diagonal_fn: GradientTransformation | None = None,
    mu_dtype: Any = None,
    verbose: bool = False,
    print_win_rate_every_n_steps: int = 0,
) -> GradientTransformation:
    """Sophia: `chain(scale_by_sophia, add_decayed_weights(weight_decay, weight_decay_mask),
    scale_by_learning_rate(learning_rate))`.

    Pass the objective for the default Hutchinson estimator: `update(grads, state, params,
    obj_fn=lambda p: loss(p, batch))`. optax's keywords and defaults; `verbose` and
    `print_win_rate_every_n_steps` are accepted for optax's signature and validated, but
    print nothing (a print inside `update` would be a host callback every step).
    """
    validation.boolean("verbose", verbose)
    validation.integer("print_win_rate_every_n_steps", print_win_rate_every_n_steps, 0)
    return chain(
        scale_by_sophia(b1, b2, eps, gamma, clip_threshold, update_interval,
                        hessian_diagonal_fn, mu_dtype),
        add_decayed_weights(weight_decay, weight_decay_mask),
        scale_by_learning_rate(learning_rate),
    )
