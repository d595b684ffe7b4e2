"""Decay schedules: a value that starts at `init_value` and falls (or moves) as steps pass.

The lecture's three decays (lecture 002, "learning rate decay over time"): step decay
("decay the learning rate by half every few epochs"), exponential decay `a0 * exp(-k t)` and
1/t decay `a0 / (1 + k t)`; optax's polynomial, linear, piecewise-constant and cosine decays.

Every schedule here is a pure function `step -> value`: jit- and vmap-safe, the value an array
with the step's shape, float32 (float64 under x64). Integer steps become floats before any
arithmetic, so `2**31 - 1` does not overflow; floor divisions by a step count are done in
integers, so they are exact at every step.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from _descent import validation
from schedules._steps import Schedule, as_float, divmod_steps, reached, since


def constant(value: ArrayLike) -> Schedule:
    """`value` at every step.

    Args:
      value: the value held (any finite number).
    """
    value = validation.finite("value", value)

    def schedule(step: ArrayLike) -> jax.Array:
        return jnp.zeros_like(as_float(step)) + value

    return schedule


def step_decay(init_value: ArrayLike, step_size: int, factor: ArrayLike) -> Schedule:
    """Multiply the value by `factor` every `step_size` steps.

        value(t) = init_value * factor ** floor(t / step_size)

    Lecture 002: "decay the learning rate by half every few epochs" is
    `step_decay(lr, step_size=steps_per_epoch * few, factor=0.5)`; lecture 001's final
    improvement step ("reduce the learning rate by a factor of 10") is `factor=0.1`.
    The same as optax's `exponential_decay(init_value, step_size, factor, staircase=True)`.

    Args:
      init_value: the value at step 0.
      step_size: steps between two decays, an integer >= 1.
      factor: the multiplier applied at each decay, >= 0 (> 1 makes the value grow).
    """
    init_value = validation.finite("init_value", init_value)
    step_size = validation.step_count("step_size", step_size, 1)
    factor = validation.finite("factor", factor, 0.0)

    def schedule(step: ArrayLike) -> jax.Array:
        decays, _ = divmod_steps(step, step_size)
        return init_value * jnp.power(factor, decays)

    return schedule


def piecewise_constant(
    init_value: ArrayLike, boundaries_and_scales: Mapping[int, ArrayLike] | None = None
) -> Schedule:
    """A constant value multiplied by a scale at each boundary, the scales accumulating.

        value(t) = init_value * prod(scale_b for each boundary b <= t)

    optax's `piecewise_constant_schedule`: with `{100: 0.1, 200: 0.1}` the value is
    `init_value` before step 100, `0.1 * init_value` from step 100 and `0.01 * init_value`
    from step 200.

    Args:
      init_value: the value before the first boundary.
      boundaries_and_scales: `{step: scale}`, steps integers >= 0, scales >= 0; None or an
        empty mapping gives a constant schedule.
    """
    init_value = validation.finite("init_value", init_value)
    if boundaries_and_scales is None:
        boundaries_and_scales = {}
    if not isinstance(boundaries_and_scales, Mapping):
        raise TypeError(
            f"boundaries_and_scales must be a mapping {{step: scale}}, got "
            f"{boundaries_and_scales!r}"
        )
    pieces = [
        (
            validation.step_count("boundaries_and_scales key", boundary, 0),
            validation.finite(f"boundaries_and_scales[{boundary!r}]", scale, 0.0),
        )
        for boundary, scale in boundaries_and_scales.items()
    ]
    pieces.sort(key=lambda piece: piece[0])

    def schedule(step: ArrayLike) -> jax.Array:
        value = jnp.zeros_like(as_float(step)) + init_value
        for boundary, scale in pieces:
            value = jnp.where(reached(step, boundary), value * scale, value)
        return value

    return schedule


def exponential_decay(
    init_value: ArrayLike,
    decay_rate: ArrayLike,
    transition_steps: int = 1,
    staircase: bool = False,
    *,
    transition_begin: int = 0,
    end_value: ArrayLike | None = None,
) -> Schedule:
    """Exponential decay: the value is multiplied by `decay_rate` every `transition_steps`.

        p(t)     = max(t - transition_begin, 0) / transition_steps   (floored if staircase)
        value(t) = init_value * decay_rate ** p(t)

    clamped from below by `end_value` when `decay_rate < 1` and from above when
    `decay_rate >= 1`. Lecture 002's `a0 * exp(-k t)` is `exponential_decay(a0, exp(-k))`.

    Matches optax's `exponential_decay`, with two differences: the positional order is
    `(init_value, decay_rate, transition_steps)` (optax's is `(init_value, transition_steps,
    decay_rate)`; by keyword they are interchangeable), and a non-positive `transition_steps`
    or a zero `decay_rate` is an error here, where optax silently returns a constant.

    Args:
      init_value: the value up to `transition_begin`.
      decay_rate: the factor per `transition_steps`, > 0 (> 1 makes the value grow).
      transition_steps: steps over which the value is multiplied by `decay_rate`, >= 1.
      staircase: decay in discrete jumps every `transition_steps` instead of continuously.
      transition_begin: steps before the decay starts, >= 0.
      end_value: a bound on the value (lower for decay, upper for growth), or None.
    """
    init_value = validation.finite("init_value", init_value)
    decay_rate = validation.finite("decay_rate", decay_rate, 0.0, low_open=True)
    transition_steps = validation.step_count("transition_steps", transition_steps, 1)
    staircase = validation.boolean("staircase", staircase)
    transition_begin = validation.step_count("transition_begin", transition_begin, 0)
    if end_value is not None:
        end_value = validation.finite("end_value", end_value)

    def schedule(step: ArrayLike) -> jax.Array:
        elapsed = since(step, transition_begin)
        if staircase:
            power, _ = divmod_steps(elapsed, transition_steps)
        else:
            power = as_float(elapsed) / transition_steps
        value = init_value * jnp.power(decay_rate, power)
        if end_value is not None:
            value = jnp.where(
                decay_rate < 1, jnp.maximum(value, end_value), jnp.minimum(value, end_value)
            )
        return value

    return schedule


def inverse_time_decay(
    init_value: ArrayLike,
    decay_rate: ArrayLike,
    transition_steps: int = 1,
    staircase: bool = False,
) -> Schedule:
    """Inverse-time (1/t) decay.

        p(t)     = t / transition_steps   (floored if staircase)
        value(t) = init_value / (1 + decay_rate * p(t))

    Lecture 002's 1/t decay `a0 / (1 + k t)` is `inverse_time_decay(a0, k)`. The same as
    Keras' `InverseTimeDecay(initial_learning_rate, decay_steps, decay_rate, staircase)`
    with `decay_steps = transition_steps`; optax has no counterpart.

    Args:
      init_value: the value at step 0.
      decay_rate: the `k` of `1 / (1 + k t)`, >= 0.
      transition_steps: the time unit of `t`, >= 1.
      staircase: decay in discrete jumps every `transition_steps` instead of continuously.
    """
    init_value = validation.finite("init_value", init_value)
    decay_rate = validation.finite("decay_rate", decay_rate, 0.0)
    transition_steps = validation.step_count("transition_steps", transition_steps, 1)
    staircase = validation.boolean("staircase", staircase)

    def schedule(step: ArrayLike) -> jax.Array:
        if staircase:
            p, _ = divmod_steps(step, transition_steps)
        else:
            p = as_float(step) / transition_steps
        return init_value / (1 + decay_rate * p)

    return schedule


def polynomial_decay(
    init_value: ArrayLike,
    end_value: ArrayLike,
    power: ArrayLike,
    transition_steps: int,
    transition_begin: int = 0,
) -> Schedule:
    """Polynomial interpolation from `init_value` to `end_value`, then constant.

        s(t)     = clip(t - transition_begin, 0, transition_steps) / transition_steps
        value(t) = (init_value - end_value) * (1 - s(t)) ** power + end_value

    optax's `polynomial_schedule`, except that a non-positive `transition_steps`, a negative
    `transition_begin` or a non-positive `power` is an error here (optax silently holds
    `init_value`, starts at 0, or divides by zero).

    Args:
      init_value: the value up to `transition_begin`.
      end_value: the value from `transition_begin + transition_steps` on.
      power: the exponent of the polynomial, > 0 (1 is linear).
      transition_steps: length of the transition, >= 1.
      transition_begin: steps before the transition starts, >= 0.
    """
    init_value = validation.finite("init_value", init_value)
    end_value = validation.finite("end_value", end_value)
    power = validation.finite("power", power, 0.0, low_open=True)
    transition_steps = validation.step_count("transition_steps", transition_steps, 1)
    transition_begin = validation.step_count("transition_begin", transition_begin, 0)

    def schedule(step: ArrayLike) -> jax.Array:
        elapsed = jnp.minimum(as_float(since(step, transition_begin)), transition_steps)
        # Not `1 - elapsed / transition_steps`: XLA divides by a constant through its
        # reciprocal, and 1 - 30 * (1/30) < 0 would give NaN for a fractional power.
        remaining = (transition_steps - elapsed) / transition_steps
        return (init_value - end_value) * jnp.power(remaining, power) + end_value

    return schedule


def linear_schedule(
    init_value: ArrayLike,
    end_value: ArrayLike,
    transition_steps: int,
    transition_begin: int = 0,
) -> Schedule:
    """Linear interpolation from `init_value` to `end_value`, then constant.

        value(t) = init_value + (end_value - init_value)
                   * clip(t - transition_begin, 0, transition_steps) / transition_steps

    optax's `linear_schedule` (`polynomial_decay` with `power=1`). It ramps up as well as
    down, so it also schedules momentum: lecture 001 starts momentum small (0.5) and raises it
    smoothly to its final value (0.9 or 0.99) once the large gradients are gone, e.g.
    `linear_schedule(0.5, 0.9, transition_steps=1000)` given as sgd's `momentum`.

    Args:
      init_value: the value up to `transition_begin`.
      end_value: the value from `transition_begin + transition_steps` on.
      transition_steps: length of the transition, >= 1.
      transition_begin: steps before the transition starts, >= 0.
    """
    return polynomial_decay(init_value, end_value, 1.0, transition_steps, transition_begin)


def cosine_decay(
    init_value: ArrayLike,
    decay_steps: int,
    alpha: ArrayLike = 0.0,
    exponent: ArrayLike = 1.0,
) -> Schedule:
    """Half a cosine from `init_value` down to `alpha * init_value`, then constant.

        c(t)     = (1 + cos(pi * min(t, decay_steps) / decay_steps)) / 2
        value(t) = init_value * ((1 - alpha) * c(t) ** exponent + alpha)

    optax's `cosine_decay_schedule` (Loshchilov & Hutter 2017, one cycle without restarts;
    `sgdr` restarts it).

    Args:
      init_value: the value at step 0.
      decay_steps: length of the decay, >= 1.
      alpha: the final value as a fraction of `init_value`, in [0, 1].
      exponent: the power applied to the cosine factor, > 0 (optax's default 1).
    """
    init_value = validation.finite("init_value", init_value)
    decay_steps = validation.step_count("decay_steps", decay_steps, 1)
    alpha = validation.finite("alpha", alpha, 0.0, 1.0)
    exponent = validation.finite("exponent", exponent, 0.0, low_open=True)

    def schedule(step: ArrayLike) -> jax.Array:
        t = jnp.minimum(as_float(step), decay_steps)
        cosine = 0.5 * (1 + jnp.cos(jnp.pi * t / decay_steps))
        return init_value * ((1 - alpha) * jnp.power(cosine, exponent) + alpha)

    return schedule
