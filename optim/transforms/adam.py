"""Adam (Kingma & Ba 2015) and NAdam, its Nesterov-momentum variant (Dozat 2016).

The variants that change Adam's second moment (AMSGrad, AdaMax, RAdam, AdaBelief) are in
`adam_variance.py`. Each scaling returns its update with a plus sign (a direction to be scaled
by `-learning_rate`); the aliases in `optim/aliases/adam.py` chain them with the learning rate.
Where libraries differ, the docstring says which convention is followed and why.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from _descent import validation
from _descent.dtypes import default_float
from optim._core.base import GradientTransformation, ScalarOrSchedule, elementwise
from optim._core.precision import check_state_dtype, moments_like, real_moments_like
from optim._core.steps import safe_increment, step_counter, value_at
from optim._core.structure import check_state, check_updates
from optim.tree import (
    bias_correction as debias,
)
from optim.tree import (
    tree_cast,
    tree_cast_like,
    update_moment,
)


def check_betas(b1: Any, b2: Any) -> None:
    """Both of Adam's moment decays in [0, 1) (numbers or schedules)."""
    validation.decay_rate("b1", b1)
    validation.decay_rate("b2", b2)


# --------------------------------------------------------------------------- Adam


class ScaleByAdamState(NamedTuple):
    count: jax.Array
    mu: Any
    nu: Any


def scale_by_adam(
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    mu_dtype: Any = None,
    *,
    nesterov: bool = False,
    nu_dtype: Any = None,
) -> GradientTransformation:
    """Adam's scaling with bias correction (Kingma & Ba 2015, Algorithm 1).

        m_t = b1 * m_{t-1} + (1 - b1) * g_t          v_t = b2 * v_{t-1} + (1 - b2) * g_t**2
        m^_t = m_t / (1 - b1**t)                      v^_t = v_t / (1 - b2**t)
        u_t = m^_t / (sqrt(v^_t + eps_root) + eps)

    With `nesterov` (Dozat 2016, NAdam, optax's form) `m^_t = b1 m_t / (1 - b1**(t+1)) +
    (1 - b1) g_t / (1 - b1**t)`. Defaults from the paper (and the lecture: b1 = 0.9,
    b2 = 0.999); eps outside the root as in the paper, optax and PyTorch. `eps_root` (inside)
    keeps the gradient of the update finite when differentiating through it. `mu_dtype` sets
    the first moment's dtype (e.g. bfloat16 to save memory), `nu_dtype` the second's; by
    default both are the params' dtype, float32 for float16 params (`optim/_core/precision.py`).
    Complex params (as optax): `m` is complex, `g**2` is `|g|**2` and `v` real.
    """
    validation.boolean("nesterov", nesterov)
    check_state_dtype("mu_dtype", mu_dtype)
    check_state_dtype("nu_dtype", nu_dtype)
    check_betas(b1, b2)
    validation.non_negative("eps", eps)
    validation.non_negative("eps_root", eps_root)

    def init(params):
        mu = moments_like(params, mu_dtype)
        return ScaleByAdamState(step_counter(), mu, real_moments_like(params, nu_dtype))

    def update(updates, state, params=None, **extra):
        check_state(state, ScaleByAdamState, "scale_by_adam")
        check_updates(updates, state.mu, "state.mu")
        beta1 = value_at(b1, state.count)
        beta2 = value_at(b2, state.count)
        e, e_root = value_at(eps, state.count), value_at(eps_root, state.count)
        count = safe_increment(state.count)
        mu = update_moment(updates, state.mu, beta1, 1)
        nu = update_moment(updates, state.nu, beta2, 2)
        if nesterov:
            mu_hat = jax.tree.map(
                lambda m_next, g_now: beta1 * m_next + (1 - beta1) * g_now,
                debias(mu, beta1, safe_increment(count)),
                debias(tree_cast_like(updates, mu), beta1, count),
            )
        else:
            mu_hat = debias(mu, beta1, count)
        nu_hat = debias(nu, beta2, count)
        out = jax.tree.map(
            lambda g, m, v: (m / (jnp.sqrt(v + e_root) + e)).astype(g.dtype),
            updates,
            mu_hat,
            nu_hat,
        )
        return out, ScaleByAdamState(count, tree_cast(mu, mu_dtype), nu)

    return elementwise(GradientTransformation(init, update))


# --------------------------------------------------------------------------- NAdam


class ScaleByNadamState(NamedTuple):
    count: jax.Array
    mu_product: jax.Array  # prod_{i <= t} mu_i, the momentum schedule's product (default float)
    mu: Any
    nu: Any


def scale_by_nadam(
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    momentum_decay: float | None = 0.004,
    mu_dtype: Any = None,
) -> GradientTransformation:
    """NAdam: Adam with Nesterov momentum (Dozat 2016, Algorithm 2).

        mu_t = b1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))    (the momentum schedule)
        m_t  = b1 * m_{t-1} + (1 - b1) * g_t          v_t = b2 * v_{t-1} + (1 - b2) * g_t**2
        m^_t = mu_{t+1} m_t / (1 - mu_1 ... mu_{t+1}) + (1 - mu_t) g_t / (1 - mu_1 ... mu_t)
        u_t  = m^_t / (sqrt(v_t / (1 - b2**t) + eps_root) + eps)

    Libraries disagree on the schedule. Dozat's experiments, PyTorch (`momentum_decay=4e-3`)
    and Keras warm the momentum up with `mu_t` above, which is followed by default: early
    steps lean on the current gradient, as the paper intends. `momentum_decay=None` keeps
    `mu_t = b1` for all t, optax's `nadam` (then m^_t = b1 m_t / (1 - b1**(t+1)) +
    (1 - b1) g_t / (1 - b1**t)). All of them average `m_t` with b1, not mu_t, and leave out the
    paper's extra factor b2 on v^_t, as does this transform.
    """
    check_state_dtype("mu_dtype", mu_dtype)
    check_betas(b1, b2)
    validation.non_negative("eps", eps)
    validation.non_negative("eps_root", eps_root)
    if momentum_decay is not None:
        validation.non_negative("momentum_decay", momentum_decay)

    def init(params):
        return ScaleByNadamState(
            step_counter(),
            jnp.ones([], default_float()),
            moments_like(params, mu_dtype),
            real_moments_like(params),
        )

    def update(updates, state, params=None, **extra):
        check_state(state, ScaleByNadamState, "scale_by_nadam")
        check_updates(updates, state.mu, "state.mu")
        beta1 = jnp.asarray(value_at(b1, state.count), state.mu_product.dtype)
        beta2 = value_at(b2, state.count)
        e, e_root = value_at(eps, state.count), value_at(eps_root, state.count)
        count = safe_increment(state.count)
        t = count.astype(state.mu_product.dtype)
        if momentum_decay is None:
            mu_now, mu_next = beta1, beta1
        else:
            mu_now = beta1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))
            mu_next = beta1 * (1 - 0.5 * 0.96 ** ((t + 1) * momentum_decay))
        product = state.mu_product * mu_now
        coef_m = mu_next / (1 - product * mu_next)
        coef_g = (1 - mu_now) / (1 - product)
        mu = update_moment(updates, state.mu, beta1, 1)
        nu = update_moment(updates, state.nu, beta2, 2)
        nu_hat = debias(nu, beta2, count)
        out = jax.tree.map(
            lambda g, m, v: (
                (coef_m * m + coef_g * g.astype(m.dtype)) / (jnp.sqrt(v + e_root) + e)
            ).astype(g.dtype),
            updates,
            mu,
            nu_hat,
        )
        return out, ScaleByNadamState(count, product, tree_cast(mu, mu_dtype), nu)

    return elementwise(GradientTransformation(init, update))
