"""optax's schedule names with optax's keywords, defaults and values, re-exported by
`schedules` and `optim` (`linear_schedule` and `exponential_decay` are `schedules.decay`'s own,
`join_schedules` is `schedules.join`).

Differences from optax 0.2.8: degenerate arguments raise a `ValueError` naming the argument,
its range and the value where optax returns a constant or NaN; `exponential_decay` keeps this
library's positional order `(init_value, decay_rate, transition_steps)` (keywords as optax's);
negative steps are step 0. Values are float32 (float64 under x64) with the step's shape;
integer steps stay integers until divided, so `2**31 - 1` never overflows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from _descent import validation
from schedules._steps import Schedule, as_float, reached, since
from schedules.combine import join as join_schedules
from schedules.decay import exponential_decay, linear_schedule


def _finite(**values: Any) -> list:
    return [validation.finite(name, value) for name, value in values.items()]


def _at_least_one(name: str, value: Any, fallback: str) -> int:
    """A step count >= 1; the error names optax's silent fallback for a smaller one."""
    try:
        return validation.step_count(name, value, 1)
    except ValueError as error:
        raise ValueError(f"{error} (optax would {fallback})") from None


def constant_schedule(value: ArrayLike) -> Schedule:
    """`value(t) = value` at every step, shaped like the step."""
    value = validation.finite("value", value)
    return lambda step: jnp.zeros_like(as_float(step)) + value


def polynomial_schedule(
    init_value: ArrayLike, end_value: ArrayLike, power: ArrayLike, transition_steps: int,
    transition_begin: int = 0
) -> Schedule:
    """Polynomial from `init_value` (I) to `end_value` (E) over `transition_steps` (T) steps.

        c(t)     = clip(t - transition_begin, 0, T)
        value(t) = (I - E) * ((T - c(t)) / T) ** power + E
    with `power > 0`, `T >= 1` (optax holds I for T <= 0), `transition_begin >= 0`."""
    init_value, end_value = _finite(init_value=init_value, end_value=end_value)
    power = validation.finite("power", power, 0.0, low_open=True)
    transition_steps = _at_least_one("transition_steps", transition_steps, "hold init_value")
    transition_begin = validation.step_count("transition_begin", transition_begin, 0)

    def schedule(step: ArrayLike) -> jax.Array:
        done = jnp.minimum(as_float(since(step, transition_begin)), transition_steps)
        # (T - c) / T, not 1 - c / T: never below 0, so a fractional power gives no NaN.
        remaining = (transition_steps - done) / transition_steps
        return (init_value - end_value) * jnp.power(remaining, power) + end_value

    return schedule


def _pieces(name: str, boundaries_and_scales: Mapping[int, ArrayLike] | None) -> list:
    """`[(boundary, scale), ...]` sorted by boundary; boundaries >= 0, scales finite >= 0."""
    if boundaries_and_scales is None:
        return []
    if not isinstance(boundaries_and_scales, Mapping):
        raise TypeError(f"{name} must be a mapping {{step: scale}}, got {boundaries_and_scales!r}")
    pieces = [
        (validation.step_count(f"{name} key", boundary, 0),
         validation.finite(f"{name}[{boundary!r}]", scale, 0.0))
        for boundary, scale in boundaries_and_scales.items()
    ]
    return sorted(pieces, key=lambda piece: piece[0])


def piecewise_constant_schedule(
    init_value: ArrayLike, boundaries_and_scales: Mapping[int, ArrayLike] | None = None
) -> Schedule:
    """`init_value` times every scale whose boundary has been reached:

        value(t) = init_value * prod(scale_b for each boundary b <= t)
    """
    init_value = validation.finite("init_value", init_value)
    pieces = _pieces("boundaries_and_scales", boundaries_and_scales)

    def schedule(step: ArrayLike) -> jax.Array:
        value = jnp.zeros_like(as_float(step)) + init_value
        for boundary, scale in pieces:
            value = jnp.where(reached(step, boundary), value * scale, value)
        return value

    return schedule


def cosine_decay_schedule(
    init_value: ArrayLike, decay_steps: int, alpha: ArrayLike = 0.0, exponent: ArrayLike = 1.0
) -> Schedule:
    """Half a cosine from `init_value` (I) down to `alpha * I` over `decay_steps` (D):

        c(t)     = (1 + cos(pi * min(t, D) / D)) / 2
        value(t) = I * ((1 - alpha) * c(t) ** exponent + alpha)
    with `D >= 1`, `alpha` in [0, 1], `exponent > 0`."""
    init_value = validation.finite("init_value", init_value)
    decay_steps = validation.step_count("decay_steps", decay_steps, 1)
    alpha = validation.finite("alpha", alpha, 0.0, 1.0)
    exponent = validation.finite("exponent", exponent, 0.0, low_open=True)

    def schedule(step: ArrayLike) -> jax.Array:
        t = jnp.minimum(as_float(step), decay_steps)
        cosine = 0.5 * (1 + jnp.cos(jnp.pi * t / decay_steps))
        return init_value * ((1 - alpha) * jnp.power(cosine, exponent) + alpha)

    return schedule


def _warmup(init_value: Any, peak_value: Any, warmup_steps: int, after: Schedule) -> Schedule:
    """Linear from `init_value` to `peak_value` over `warmup_steps`, then `after(t - W)`."""
    if warmup_steps == 0:
        return after
    return join_schedules([linear_schedule(init_value, peak_value, warmup_steps), after],
                          [warmup_steps])


def warmup_constant_schedule(
    init_value: ArrayLike, peak_value: ArrayLike, warmup_steps: int
) -> Schedule:
    """`value(t) = init_value + (peak_value - init_value) * min(t, W) / W`, W = warmup_steps
    >= 1 (with W = 0 optax holds `init_value` forever: `constant_schedule(peak_value)` is meant)."""
    warmup_steps = _at_least_one("warmup_steps", warmup_steps, "hold init_value forever")
    return linear_schedule(init_value, peak_value, warmup_steps)


def warmup_cosine_decay_schedule(
    init_value: ArrayLike, peak_value: ArrayLike, warmup_steps: int, decay_steps: int,
    end_value: ArrayLike = 0.0, exponent: ArrayLike = 1.0
) -> Schedule:
    """A linear warm-up over `warmup_steps` (W) to `peak_value` (P), then a cosine to `end_value`:

        value(t) = init_value + (P - init_value) * t / W                       t < W
        c(t)     = (1 + cos(pi * min(t - W, D - W) / (D - W))) / 2,  D = decay_steps
        value(t) = P * ((1 - a) * c(t) ** exponent + a),  a = end_value / P     t >= W

    (a = 0 when P = 0, so the value is then 0 after the warm-up, as in optax.) `decay_steps`
    counts the warm-up: `decay_steps > warmup_steps >= 0`; `exponent > 0`."""
    init_value, peak_value = _finite(init_value=init_value, peak_value=peak_value)
    warmup_steps = validation.step_count("warmup_steps", warmup_steps, 0)
    decay_steps = validation.step_count("decay_steps", decay_steps, 1)
    if decay_steps <= warmup_steps:
        raise ValueError(f"decay_steps must be an integer in [{warmup_steps + 1}, inf) (it "
                         f"counts the warmup_steps={warmup_steps} too), got {decay_steps!r}")
    end_value = validation.finite("end_value", end_value)
    exponent = validation.finite("exponent", exponent, 0.0, low_open=True)
    cosine_steps = decay_steps - warmup_steps
    nonzero = jnp.where(peak_value == 0, 1.0, peak_value)  # a traced peak_value too
    alpha = jnp.where(peak_value == 0, 0.0, end_value / nonzero)

    def decay(step: ArrayLike) -> jax.Array:
        t = jnp.minimum(as_float(step), cosine_steps)
        cosine = 0.5 * (1 + jnp.cos(jnp.pi * t / cosine_steps))
        return peak_value * ((1 - alpha) * jnp.power(cosine, exponent) + alpha)

    return _warmup(init_value, peak_value, warmup_steps, decay)


def warmup_exponential_decay_schedule(
    init_value: ArrayLike, peak_value: ArrayLike, warmup_steps: int, transition_steps: int,
    decay_rate: ArrayLike, transition_begin: int = 0, staircase: bool = False,
    end_value: ArrayLike | None = None
) -> Schedule:
    """A linear warm-up over `warmup_steps` (W) to `peak_value`, then, for t >= W,

        value(t) = exponential_decay(peak_value, decay_rate, transition_steps, staircase,
                      transition_begin=transition_begin, end_value=end_value)(t - W)

    optax's positional order here (`transition_steps` before `decay_rate`); `W >= 0`."""
    init_value, peak_value = _finite(init_value=init_value, peak_value=peak_value)
    warmup_steps = validation.step_count("warmup_steps", warmup_steps, 0)
    decay = exponential_decay(peak_value, decay_rate, transition_steps, staircase,
                              transition_begin=transition_begin, end_value=end_value)
    return _warmup(init_value, peak_value, warmup_steps, decay)


def sgdr_schedule(cosine_kwargs: Iterable[Mapping[str, Any]]) -> Schedule:
    """SGD with warm restarts: cycle i is `warmup_cosine_decay_schedule(**cosine_kwargs[i])`.

    Cycle i starts at `sum(decay_steps of the earlier cycles)`; after the last cycle the value
    stays at its `end_value`. `schedules.sgdr` is the closed form for equal or growing cycles."""
    cycles, boundaries, start = [], [], 0
    for index, kwargs in enumerate(cosine_kwargs):
        if not isinstance(kwargs, Mapping):
            raise TypeError(f"cosine_kwargs[{index}] must be a dict of "
                            f"warmup_cosine_decay_schedule's arguments, got {kwargs!r}")
        try:
            cycles.append(warmup_cosine_decay_schedule(**kwargs))
        except (TypeError, ValueError) as error:
            raise type(error)(f"cosine_kwargs[{index}]: {error}") from None
        start += int(kwargs["decay_steps"])
        boundaries.append(start)
    if not cycles:
        raise ValueError("cosine_kwargs must hold at least one cycle, got none")
    return join_schedules(cycles, boundaries[:-1])


def piecewise_interpolate_schedule(
    interpolate_type: str, init_value: ArrayLike,
    boundaries_and_scales: Mapping[int, ArrayLike] | None = None
) -> Schedule:
    """Interpolate between the accumulated values at the boundaries, linearly or by cosine.

    With sorted boundaries `b_1 < ... < b_n`, `b_0 = 0`, `v_0 = init_value` and
    `v_k = v_(k-1) * scale_k`: for `b_k <= t < b_(k+1)`, with `p = (t - b_k) / (b_(k+1) - b_k)`,

        linear:  value(t) = v_k + (v_(k+1) - v_k) * p
        cosine:  value(t) = v_(k+1) + (v_k - v_(k+1)) * (1 + cos(pi * p)) / 2
    and `value(t) = v_n` from `b_n` on. Boundaries >= 0, scales >= 0."""
    interpolate_type = validation.choice("interpolate_type", interpolate_type, ("linear", "cosine"))
    init_value = validation.finite("init_value", init_value)
    pieces = _pieces("boundaries_and_scales", boundaries_and_scales)
    bounds, values = [0], [init_value]
    for boundary, scale in pieces:
        bounds.append(boundary)
        values.append(values[-1] * scale)
    segments = [(bounds[k], bounds[k + 1], values[k], values[k + 1]) for k in range(len(pieces))
                if bounds[k + 1] > bounds[k]]

    def schedule(step: ArrayLike) -> jax.Array:
        value = jnp.zeros_like(as_float(step)) + values[-1]
        for start, end, low, high in reversed(segments):
            p = jnp.minimum(as_float(since(step, start)), end - start) / (end - start)
            if interpolate_type == "linear":
                inside = (high - low) * p + low
            else:
                inside = high + (low - high) / 2.0 * (jnp.cos(jnp.pi * p) + 1)
            value = jnp.where(reached(step, end), value, inside)
        return value

    return schedule


def _onecycle_checks(steps: Any, peak: Any, pct_start: Any, div: Any, final_div: Any) -> tuple:
    return (validation.step_count("transition_steps", steps, 1),
            validation.finite("peak_value", peak),
            validation.finite("pct_start", pct_start, 0.0, 1.0, high_open=True, concrete=True),
            validation.finite("div_factor", div, 0.0, low_open=True),
            validation.finite("final_div_factor", final_div, 0.0, low_open=True))


def linear_onecycle_schedule(
    transition_steps: int, peak_value: ArrayLike, pct_start: float = 0.3, pct_final: float = 0.85,
    div_factor: ArrayLike = 25.0, final_div_factor: ArrayLike = 1e4
) -> Schedule:
    """Three linear phases (Smith 2017): with `T = transition_steps`, `I = peak_value /
    div_factor`, `b_1 = int(pct_start * T)` and `b_2 = int(pct_final * T)`,

        I -> peak_value over [0, b_1],  peak_value -> I over [b_1, b_2],
        I -> I / final_div_factor over [b_2, T],  then I / final_div_factor

    i.e. `piecewise_interpolate_schedule("linear", I, {b_1: div_factor, b_2: 1 / div_factor,
    T: 1 / final_div_factor})`. `0 <= pct_start < pct_final < 1` with `b_1 < b_2 < T`."""
    transition_steps, peak_value, pct_start, div_factor, final_div_factor = _onecycle_checks(
        transition_steps, peak_value, pct_start, div_factor, final_div_factor)
    pct_final = validation.finite("pct_final", pct_final, pct_start, 1.0, low_open=True,
                                  high_open=True, concrete=True)
    rise, fall = int(pct_start * transition_steps), int(pct_final * transition_steps)
    if not rise < fall < transition_steps:
        raise ValueError(f"pct_start and pct_final must give steps int(pct_start * "
                         f"transition_steps) < int(pct_final * transition_steps) < "
                         f"transition_steps, got {rise}, {fall}, {transition_steps}")
    return piecewise_interpolate_schedule("linear", peak_value / div_factor, {
        rise: div_factor, fall: 1.0 / div_factor, transition_steps: 1.0 / final_div_factor})


def cosine_onecycle_schedule(
    transition_steps: int, peak_value: ArrayLike, pct_start: float = 0.3,
    div_factor: ArrayLike = 25.0, final_div_factor: ArrayLike = 1e4
) -> Schedule:
    """The one-cycle policy with cosine phases: with `T = transition_steps`, `I = peak_value /
    div_factor` and `b = int(pct_start * T)`, a cosine from I up to `peak_value` over [0, b],
    a cosine down to `I / final_div_factor` over [b, T], then that value:
    `piecewise_interpolate_schedule("cosine", I, {b: div_factor, T: 1 / (div_factor *
    final_div_factor)})` (`schedules.one_cycle`'s shape). `pct_start` in [0, 1).
    """
    transition_steps, peak_value, pct_start, div_factor, final_div_factor = _onecycle_checks(
        transition_steps, peak_value, pct_start, div_factor, final_div_factor)
    return piecewise_interpolate_schedule("cosine", peak_value / div_factor, {
        int(pct_start * transition_steps): div_factor,
        transition_steps: 1.0 / (div_factor * final_div_factor)})
