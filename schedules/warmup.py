"""Warm-up schedules: start small, ramp up to a peak, then hold or decay.

A linear warm-up keeps the first large, noisy updates of a fresh network from undoing it; it
is the companion of the linear scaling rule for large minibatches (Goyal et al. 2017, lecture
002), which ramps the learning rate over the first few epochs to `base * batch / 256`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from _descent import validation
from schedules._steps import Schedule, as_float, reached, since
from schedules.decay import constant, linear_schedule


def linear_warmup(init_value: ArrayLike, peak_value: ArrayLike, warmup_steps: int) -> Schedule:
    """Linear from `init_value` to `peak_value` over `warmup_steps`, then `peak_value`.

        value(t) = init_value + (peak_value - init_value) * min(t, warmup_steps) / warmup_steps

    optax's `warmup_constant_schedule`, except with `warmup_steps=0`: no warm-up, the value is
    `peak_value` from step 0 (optax holds `init_value` forever).

    Args:
      init_value: the value at step 0.
      peak_value: the value from `warmup_steps` on.
      warmup_steps: length of the warm-up, >= 0.
    """
    init_value = validation.finite("init_value", init_value)
    peak_value = validation.finite("peak_value", peak_value)
    warmup_steps = validation.step_count("warmup_steps", warmup_steps, 0)
    if warmup_steps == 0:
        return constant(peak_value)
    return linear_schedule(init_value, peak_value, warmup_steps)


def warmup_cosine_decay(
    init_value: ArrayLike,
    peak_value: ArrayLike,
    warmup_steps: int,
    decay_steps: int,
    end_value: ArrayLike = 0.0,
    exponent: ArrayLike = 1.0,
) -> Schedule:
    """A linear warm-up to `peak_value`, then half a cosine down to `end_value`.

        value(t) = init_value + (peak_value - init_value) * t / warmup_steps     t < warmup_steps
        c(t)     = (1 + cos(pi * min(t - warmup_steps, D) / D)) / 2,  D = decay_steps - warmup_steps
        value(t) = end_value + (peak_value - end_value) * c(t) ** exponent      t >= warmup_steps

    optax's `warmup_cosine_decay_schedule`: `decay_steps` is the length of the whole schedule,
    warm-up included, and the value is `end_value` from `decay_steps` on. One difference: with
    `peak_value=0` optax decays to 0 whatever `end_value` is; here the formula above holds.

    Args:
      init_value: the value at step 0.
      peak_value: the value reached at `warmup_steps`.
      warmup_steps: length of the warm-up, >= 0 (0: start at `peak_value`).
      decay_steps: length of warm-up plus decay, > warmup_steps.
      end_value: the value from `decay_steps` on.
      exponent: the power applied to the cosine factor, > 0.
    """
    init_value = validation.finite("init_value", init_value)
    peak_value = validation.finite("peak_value", peak_value)
    warmup_steps = validation.step_count("warmup_steps", warmup_steps, 0)
    decay_steps = validation.step_count("decay_steps", decay_steps, 1)
    if decay_steps <= warmup_steps:
        raise ValueError(
            f"decay_steps must be an integer in [{warmup_steps + 1}, inf) (it counts the "
            f"warmup_steps={warmup_steps} too), got {decay_steps!r}"
        )
    end_value = validation.finite("end_value", end_value)
    exponent = validation.finite("exponent", exponent, 0.0, low_open=True)
    cosine_steps = decay_steps - warmup_steps

    def schedule(step: ArrayLike) -> jax.Array:
        warm = init_value + (peak_value - init_value) * as_float(step) / max(warmup_steps, 1)
        elapsed = jnp.minimum(as_float(since(step, warmup_steps)), cosine_steps)
        cosine = 0.5 * (1 + jnp.cos(jnp.pi * elapsed / cosine_steps))
        decay = end_value + (peak_value - end_value) * jnp.power(cosine, exponent)
        return jnp.where(reached(step, warmup_steps), decay, warm)

    return schedule
