"""Cyclic schedules: cosine annealing with warm restarts, triangular cycles and the one cycle.

Lecture 002 ends its ensembles section with "cyclic learning rate schedules can make this work
even better" (Loshchilov & Hutter 2017; Huang et al. 2017, snapshot ensembles): each restart
of `sgdr` ends near a minimum whose weights are worth keeping.

Periodic schedules locate a step in its cycle with integer arithmetic when the step is an
integer, so the cycle is right at any step, 2**31 - 1 included; float32 alone stops
resolving single steps beyond 2**24.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from _descent import validation
from schedules._steps import Schedule, as_float, divmod_steps, reached, since


def _restart_fraction(step: ArrayLike, period: int, multiplier: float) -> jax.Array:
    """How far into its cycle `step` is, in [0, 1], for cycles `period * multiplier**i` long.

    Cycle i starts at `S_i = period * (m**i - 1) / (m - 1)`, so the cycle of step t is
    `floor(log1p(t * (m - 1) / period) / log(m))`. Logarithms round, and at an exact boundary
    (t = S_i) they may land one cycle early or late, so the estimate only picks a few candidate
    cycles, whose boundaries are computed directly and compared with t: the first candidate in
    closed form, the next ones by adding cycle lengths (so S_1 = period exactly, whatever m).
    For m >= 1 + 1/16 the powers `m**i` come from binary exponentiation, exact when `m` and
    `period` are small integers or dyadic (2, 3, 1.5, ...) and the powers representable, so
    integer boundaries stay exact; closer to 1, `m**i - 1` would cancel and
    `expm1(i * log(m))` keeps the relative precision instead. Either way `t - S_i` is the
    difference of two large numbers: the fraction is good to about
    `eps * log1p(t * (m - 1) / period) / (m - 1)`, i.e. ~2e-5 for m = 1.1 and ~2e-4 for
    m = 1.01 at step 2**31 in float32 (enable x64 for more).
    """
    t = as_float(step)
    dtype = t.dtype
    if multiplier == 1.0:
        _, remainder = divmod_steps(step, period)
        return remainder / period
    # Host constants from the exact multiplier, in float64: rounding m to float32 first would
    # shift cycle i by i * eps / (m - 1) of its length.
    m = float(multiplier)
    eps = float(jnp.finfo(dtype).eps)
    rate = (m - 1) / period
    scale = period / (m - 1)
    log_m = math.log(m)
    # The last cycle a step below 2**64 can reach, and how far the rounded estimate can be off
    # (capped: beyond it, m within ~1e-6 of 1 in float32, the cycles are blurred anyway).
    last = math.floor(math.log1p(2.0**64 * rate) / log_m) + 1
    window = min(1 + math.ceil(8 * eps * (last + 1 / log_m)), 64)

    estimate = jnp.clip(jnp.floor(jnp.log1p(t * rate) / log_m), 0, last)
    lowest = jnp.maximum(estimate - window, 0)
    count = 2 * window + 2  # candidate boundaries S_lowest ... S_(lowest + count - 1)
    if m - 1 >= 1 / 16:
        float_max = float(jnp.finfo(dtype).max)
        exponent = lowest.astype(jax.dtypes.canonicalize_dtype(jnp.int64))
        power = jnp.ones_like(t)  # m ** lowest
        for bit in range((last + window).bit_length()):
            try:
                factor = m ** (2**bit)
            except OverflowError:
                factor = math.inf
            factor = factor if factor <= float_max else math.inf
            power = jnp.where((exponent >> bit) & 1 == 1, power * factor, power)
        boundary = scale * (power - 1)
        length = period * power
    else:
        boundary = scale * jnp.expm1(lowest * log_m)
        length = period * jnp.exp(lowest * log_m)
    # The next boundaries by adding cycle lengths: S_1 = period exactly, whatever m.
    boundaries = [boundary]
    for _ in range(count - 1):
        boundary = boundary + length
        length = length * m
        boundaries.append(boundary)
    start, end = boundaries[0], boundaries[1]
    for j in range(1, count - 1):
        inside = t >= boundaries[j]
        start = jnp.where(inside, boundaries[j], start)
        end = jnp.where(inside, boundaries[j + 1], end)
    return jnp.clip((t - start) / (end - start), 0, 1)


def sgdr(
    init_value: ArrayLike,
    period: int,
    period_mult: float = 1.0,
    min_value: ArrayLike = 0.0,
) -> Schedule:
    """Cosine annealing with warm restarts (SGDR, Loshchilov & Hutter 2017).

    Cycle i lasts `T_i = period * period_mult**i` steps; within it, at `t_cur` steps from its
    start,

        value(t) = min_value + (init_value - min_value) * (1 + cos(pi * t_cur / T_i)) / 2

    so the value falls from `init_value` to (just above) `min_value` and jumps back at each
    restart. The paper's `T_0` is `period`, `T_mult` is `period_mult`, `eta_max` and `eta_min`
    are `init_value` and `min_value`. With a non-integer `period_mult` the cycles start at
    fractional positions `period * (m**i - 1) / (m - 1)` and the value is that of the
    continuous-time schedule at the integer step.

    Closed form for any step (no loop over cycles), jit-safe up to 2**31 - 1 and beyond.
    Restarts land exactly on their steps (value exactly `init_value`) when `period_mult` is 1
    or a small integer or dyadic number (2, 3, 1.5, ...); otherwise, in float32, the position
    within a cycle is good to about `eps * log1p(t * (m - 1) / period) / (m - 1)`: ~2e-5 for
    m = 1.1 and ~2e-4 for m = 1.01 at step 2**31 (enable x64 for more).

    optax's `sgdr_schedule` needs the list of cycles spelled out; for `n` cycles it equals
    this one over those cycles (and then stays at `min_value` where this one restarts again).

    Args:
      init_value: the value at each restart.
      period: length of the first cycle, >= 1.
      period_mult: growth of the cycle length from one cycle to the next, >= 1.
      min_value: the value the cosine tends to at the end of each cycle.
    """
    init_value = validation.finite("init_value", init_value)
    period = validation.step_count("period", period, 1)
    period_mult = validation.finite("period_mult", period_mult, 1.0, concrete=True)
    min_value = validation.finite("min_value", min_value)

    def schedule(step: ArrayLike) -> jax.Array:
        fraction = _restart_fraction(step, period, period_mult)
        return min_value + (init_value - min_value) * 0.5 * (1 + jnp.cos(jnp.pi * fraction))

    return schedule


def cyclic_triangular(
    base_value: ArrayLike,
    max_value: ArrayLike,
    step_size: int,
    mode: str = "triangular",
    gamma: ArrayLike = 1.0,
) -> Schedule:
    """Cyclical learning rates (Smith 2017): a triangle wave between `base_value` and `max_value`.

        cycle(t) = floor(1 + t / (2 * step_size))
        x(t)     = |t / step_size - 2 * cycle(t) + 1|
        value(t) = base_value + (max_value - base_value) * max(0, 1 - x(t)) * scale(t)

    with `scale = 1` ("triangular"), `1 / 2**(cycle - 1)` ("triangular2": the amplitude halves
    every cycle) or `gamma**t` ("exp_range"). Each cycle is `2 * step_size` steps long, rising
    for `step_size` steps then falling; Smith suggests `step_size` of 2 to 10 epochs. The same
    as PyTorch's `CyclicLR(base_lr, max_lr, step_size_up=step_size, mode, gamma)`.

    Args:
      base_value: the value at the start and end of each cycle.
      max_value: the value at the middle of the (first) cycle.
      step_size: half the cycle length, >= 1.
      mode: "triangular", "triangular2" or "exp_range".
      gamma: the per-step decay of the amplitude in "exp_range" mode, in (0, 1].
    """
    base_value = validation.finite("base_value", base_value)
    max_value = validation.finite("max_value", max_value)
    step_size = validation.step_count("step_size", step_size, 1)
    mode = validation.choice("mode", mode, ("triangular", "triangular2", "exp_range"))
    gamma = validation.finite("gamma", gamma, 0.0, 1.0, low_open=True)

    def schedule(step: ArrayLike) -> jax.Array:
        completed, position = divmod_steps(step, 2 * step_size)  # completed = cycle - 1
        # |position - step_size| is exact, so the peak is exactly max_value.
        height = jnp.maximum(0, 1 - jnp.abs(position - step_size) / step_size)
        if mode == "triangular2":
            height = height * jnp.power(0.5, completed)
        elif mode == "exp_range":
            height = height * jnp.power(gamma, as_float(step))
        return base_value + (max_value - base_value) * height

    return schedule


def one_cycle(
    transition_steps: int,
    peak_value: ArrayLike,
    pct_start: float = 0.3,
    div_factor: ArrayLike = 25.0,
    final_div_factor: ArrayLike = 1e4,
) -> Schedule:
    """The one-cycle policy (Smith & Topin 2017) with cosine phases: up to a peak, then far down.

    With `init = peak_value / div_factor`, `final = init / final_div_factor` and
    `b = floor(pct_start * transition_steps)`:

        value(t) = init  + (peak_value - init)  * (1 - cos(pi * t / b)) / 2            t < b
        value(t) = final + (peak_value - final) * (1 + cos(pi * (t - b) / (T - b))) / 2  b <= t < T
        value(t) = final                                                              t >= T

    where `T = transition_steps`. This is optax's `cosine_onecycle_schedule` (cosine
    annealing in both phases, not optax's three-phase `linear_onecycle_schedule`). PyTorch's
    `OneCycleLR` (anneal_strategy="cos", three_phase=False) has the same shape with its phases
    ending one step earlier. The momentum cycle Smith pairs with it (low while the learning
    rate is high) is `join([linear_schedule(0.95, 0.85, b), linear_schedule(0.85, 0.95,
    T - b)], [b])`.

    Args:
      transition_steps: length of the cycle, >= 1.
      peak_value: the value at step `b`.
      pct_start: fraction of the cycle spent rising, in [0, 1).
      div_factor: `peak_value / div_factor` is the value at step 0, > 0.
      final_div_factor: the final value is the initial one divided by this, > 0.
    """
    transition_steps = validation.step_count("transition_steps", transition_steps, 1)
    peak_value = validation.finite("peak_value", peak_value)
    pct_start = validation.finite("pct_start", pct_start, 0.0, 1.0, high_open=True, concrete=True)
    div_factor = validation.finite("div_factor", div_factor, 0.0, low_open=True)
    final_div_factor = validation.finite("final_div_factor", final_div_factor, 0.0, low_open=True)
    rise = int(pct_start * transition_steps)  # floored as optax does
    fall = transition_steps - rise  # >= 1 because pct_start < 1
    init_value = peak_value / div_factor
    final_value = init_value / final_div_factor

    def schedule(step: ArrayLike) -> jax.Array:
        up = init_value + (peak_value - init_value) * 0.5 * (
            1 - jnp.cos(jnp.pi * as_float(step) / max(rise, 1))
        )
        elapsed = jnp.minimum(as_float(since(step, rise)), fall)
        down = final_value + (peak_value - final_value) * 0.5 * (
            1 + jnp.cos(jnp.pi * elapsed / fall)
        )
        return jnp.where(reached(step, rise), down, up)

    return schedule
