"""Per-coordinate adaptive scaling: AdaGrad, RMSProp and AdaDelta (Adam: `adam.py`).

Where libraries differ on eps, these follow optax (so code moves over by changing an import),
and the docstrings say where the lectures or PyTorch put it instead.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from _descent import validation
from optim._core.base import GradientTransformation, ScalarOrSchedule, elementwise
from optim._core.numerics import saturate, saturated_abs_square
from optim._core.precision import moments_like, real_moments_like
from optim._core.steps import safe_increment, step_counter, value_at
from optim._core.structure import (
    check_real,
    check_same_structure,
    check_state,
    check_update_dtypes,
    check_updates,
)
from optim.tree import (
    bias_correction as debias,
)
from optim.tree import (
    update_moment,
)


class ScaleByRssState(NamedTuple):
    count: jax.Array
    sum_of_squares: Any


def scale_by_rss(
    initial_accumulator_value: float = 0.1, eps: float = 1e-7
) -> GradientTransformation:
    """AdaGrad's scaling by the root of the sum of squared gradients (Duchi et al. 2011).

        s_t = s_{t-1} + g_t**2                 (s_0 = initial_accumulator_value)
        u_t = g_t / sqrt(s_t + eps)            (0 where s_t = 0)

    Defaults and eps inside the root as optax; the lecture (CS231n) writes
    `g / (sqrt(s) + 1e-7)` with `s_0 = 0`, PyTorch `g / (sqrt(s) + 1e-10)`. For complex
    params `g**2` is `|g|**2` and `s` real (as optax).
    """
    validation.non_negative("initial_accumulator_value", initial_accumulator_value)
    validation.non_negative("eps", eps)

    def init(params):
        start = real_moments_like(params, value=initial_accumulator_value)
        return ScaleByRssState(step_counter(), start)

    def update(updates, state, params=None, **extra):
        check_state(state, ScaleByRssState, "scale_by_rss")
        # The sum is real for complex params too: the params tell a complex gradient of a
        # real param from that of a complex one.
        check_same_structure(updates, state.sum_of_squares, "updates", "state.sum_of_squares")
        check_update_dtypes(updates, params)
        total = jax.tree.map(
            lambda g, s: saturate(s + saturated_abs_square(
                g.astype(jnp.promote_types(g.dtype, s.dtype))).astype(s.dtype)).astype(s.dtype),
            updates,
            state.sum_of_squares,
        )
        e = value_at(eps, state.count)
        out = jax.tree.map(
            lambda g, s: jnp.where(s > 0, g / jnp.sqrt(s + e), 0).astype(g.dtype),
            updates,
            total,
        )
        return out, ScaleByRssState(safe_increment(state.count), total)

    return elementwise(GradientTransformation(init, update))


class ScaleByRmsState(NamedTuple):
    count: jax.Array
    nu: Any
    mu: Any  # the mean of the gradients when centered, else None


def scale_by_rms(
    decay: ScalarOrSchedule = 0.9,
    eps: float = 1e-8,
    initial_scale: float = 0.0,
    *,
    eps_in_sqrt: bool = True,
    centered: bool = False,
    bias_correction: bool = False,
) -> GradientTransformation:
    """RMSProp (Tieleman & Hinton 2012, lecture 6e): divide by a running RMS of the gradients.

        nu_t = decay * nu_{t-1} + (1 - decay) * g_t**2          (nu_0 = initial_scale)
        mu_t = decay * mu_{t-1} + (1 - decay) * g_t             (centered only; mu_0 = 0)
        v_t  = max(nu_t - mu_t**2, 0)   if centered (Graves 2013)  else nu_t
        u_t  = g_t / sqrt(v_t + eps)      or, with eps_in_sqrt=False,   g_t / (sqrt(v_t) + eps)

    The lecture's `MeanSq = 0.9 MeanSq + 0.1 g**2` is decay=0.9. eps inside the root as optax;
    PyTorch and the CS231n notes add it outside (eps_in_sqrt=False). With `bias_correction`,
    nu_t (and mu_t) are divided by `1 - decay**t` as in Adam. For complex params `g**2` is
    `|g|**2` and `mu_t**2` is `|mu_t|**2` (as optax), nu_t real.
    """
    validation.boolean("eps_in_sqrt", eps_in_sqrt)
    validation.boolean("centered", centered)
    validation.boolean("bias_correction", bias_correction)
    validation.decay_rate("decay", decay)
    validation.non_negative("eps", eps)
    validation.non_negative("initial_scale", initial_scale)

    def init(params):
        mu = moments_like(params) if centered else None
        nu = real_moments_like(params, value=initial_scale)
        return ScaleByRmsState(step_counter(), nu, mu)

    def update(updates, state, params=None, **extra):
        check_state(state, ScaleByRmsState, "scale_by_rms")
        # nu is real for complex params too: the params (or mu) tell a complex gradient of a
        # real param from that of a complex one.
        check_same_structure(updates, state.nu, "updates", "state.nu")
        if centered:
            check_update_dtypes(updates, state.mu, "state.mu")
        else:
            check_update_dtypes(updates, params)
        rate = value_at(decay, state.count)
        e = value_at(eps, state.count)
        count = safe_increment(state.count)
        nu = update_moment(updates, state.nu, rate, 2)
        mu = update_moment(updates, state.mu, rate, 1) if centered else None
        nu_hat = debias(nu, rate, count) if bias_correction else nu
        if centered:
            mu_hat = debias(mu, rate, count) if bias_correction else mu
            # A variance is >= 0, but nu - mu**2 is a difference of rounded numbers: with
            # bias_correction both are g**2 at step 1 and it rounds below 0 (a NaN root).
            nu_hat = jax.tree.map(
                lambda n, m: jnp.maximum(n - saturated_abs_square(m), 0), nu_hat, mu_hat
            )
        if eps_in_sqrt:
            scaled = lambda g, n: g / jnp.sqrt(n + e)
        else:
            scaled = lambda g, n: g / (jnp.sqrt(n) + e)
        out = jax.tree.map(lambda g, n: scaled(g, n).astype(g.dtype), updates, nu_hat)
        return out, ScaleByRmsState(count, nu, mu)

    return elementwise(GradientTransformation(init, update))


class ScaleByAdaDeltaState(NamedTuple):
    count: jax.Array
    e_g: Any
    e_x: Any


def scale_by_adadelta(rho: ScalarOrSchedule = 0.9, eps: float = 1e-6) -> GradientTransformation:
    """AdaDelta (Zeiler 2012, Algorithm 1): units-correct steps without a learning rate.

        E[g^2]_t  = rho * E[g^2]_{t-1} + (1 - rho) * g_t**2
        u_t       = sqrt(E[dx^2]_{t-1} + eps) / sqrt(E[g^2]_t + eps) * g_t
        E[dx^2]_t = rho * E[dx^2]_{t-1} + (1 - rho) * u_t**2

    Returned with a plus sign; the `adadelta` alias flips it with a learning rate of 1.0, which
    is Zeiler's rule exactly (the accumulated step is the unscaled `u_t`, as optax and PyTorch).
    Zeiler used rho = 0.95 and eps = 1e-6; optax's and PyTorch's rho is 0.9.
    """
    validation.decay_rate("rho", rho)
    validation.positive("eps", eps)

    def init(params):
        check_real(params, "scale_by_adadelta",
                   why="Its second-moment rule is defined for real gradients only")
        return ScaleByAdaDeltaState(step_counter(), moments_like(params), moments_like(params))

    def update(updates, state, params=None, **extra):
        check_state(state, ScaleByAdaDeltaState, "scale_by_adadelta")
        check_updates(updates, state.e_g, "state.e_g")
        rate = value_at(rho, state.count)
        e = value_at(eps, state.count)
        e_g = update_moment(updates, state.e_g, rate, 2)
        out = jax.tree.map(
            lambda g, eg, ex: (jnp.sqrt(ex + e) / jnp.sqrt(eg + e) * g).astype(g.dtype),
            updates,
            e_g,
            state.e_x,
        )
        e_x = update_moment(out, state.e_x, rate, 2)
        return out, ScaleByAdaDeltaState(safe_increment(state.count), e_g, e_x)

    return elementwise(GradientTransformation(init, update))
