"""Schedules (schedules/decay.py, warmup.py, cyclic.py, combine.py, scaling.py).

Each takes an integer array of steps and returns float64 values, one step at a time in
Python ints and floats, so floor divisions are exact at any step."""

import numpy as np


def _each_step(function, steps):
    return np.array([function(int(t)) for t in np.asarray(steps).ravel()], np.float64).reshape(
        np.shape(steps)
    )


def schedule_constant(steps, value):
    return _each_step(lambda t: value, steps)


def schedule_step_decay(steps, init_value, step_size, factor):
    return _each_step(lambda t: init_value * factor ** (t // step_size), steps)


def schedule_piecewise_constant(steps, init_value, boundaries_and_scales):
    def one(t):
        value = init_value
        for boundary, scale in boundaries_and_scales.items():
            if t >= boundary:
                value *= scale
        return value

    return _each_step(one, steps)


def schedule_exponential_decay(
    steps, init_value, decay_rate, transition_steps=1, staircase=False, transition_begin=0,
    end_value=None,
):
    def one(t):
        elapsed = max(t - transition_begin, 0)
        p = elapsed // transition_steps if staircase else elapsed / transition_steps
        value = init_value * np.power(np.float64(decay_rate), p)
        if end_value is not None:
            value = max(value, end_value) if decay_rate < 1 else min(value, end_value)
        return value

    with np.errstate(over="ignore", under="ignore"):
        return _each_step(one, steps)


def schedule_inverse_time_decay(steps, init_value, decay_rate, transition_steps=1, staircase=False):
    def one(t):
        p = t // transition_steps if staircase else t / transition_steps
        return init_value / (1 + decay_rate * p)

    return _each_step(one, steps)


def schedule_polynomial_decay(steps, init_value, end_value, power, transition_steps, transition_begin=0):
    def one(t):
        s = min(max(t - transition_begin, 0), transition_steps) / transition_steps
        return (init_value - end_value) * (1 - s) ** power + end_value

    return _each_step(one, steps)


def schedule_linear(steps, init_value, end_value, transition_steps, transition_begin=0):
    def one(t):
        s = min(max(t - transition_begin, 0), transition_steps) / transition_steps
        return init_value + (end_value - init_value) * s

    return _each_step(one, steps)


def schedule_cosine_decay(steps, init_value, decay_steps, alpha=0.0, exponent=1.0):
    def one(t):
        c = (1 + np.cos(np.pi * min(t, decay_steps) / decay_steps)) / 2
        return init_value * ((1 - alpha) * c**exponent + alpha)

    return _each_step(one, steps)


def schedule_linear_warmup(steps, init_value, peak_value, warmup_steps):
    def one(t):
        if t >= warmup_steps:
            return peak_value
        return init_value + (peak_value - init_value) * t / warmup_steps

    return _each_step(one, steps)


def schedule_warmup_cosine_decay(
    steps, init_value, peak_value, warmup_steps, decay_steps, end_value=0.0, exponent=1.0
):
    def one(t):
        if t < warmup_steps:
            return init_value + (peak_value - init_value) * t / warmup_steps
        length = decay_steps - warmup_steps
        c = (1 + np.cos(np.pi * min(t - warmup_steps, length) / length)) / 2
        return end_value + (peak_value - end_value) * c**exponent

    return _each_step(one, steps)


def schedule_sgdr(steps, init_value, period, period_mult=1.0, min_value=0.0):
    """Walks the cycles one by one (T_i = period * period_mult**i) instead of using logs."""

    def one(t):
        if period_mult == 1.0:
            start, length = (t // period) * period, period
        else:
            start, length = 0.0, float(period)
            while t >= start + length:
                start += length
                length *= period_mult
        return min_value + (init_value - min_value) * (1 + np.cos(np.pi * (t - start) / length)) / 2

    return _each_step(one, steps)


def schedule_cyclic_triangular(steps, base_value, max_value, step_size, mode="triangular", gamma=1.0):
    """Smith (2017), Section 3.1, with cycle computed in exact integers."""

    def one(t):
        cycle = 1 + t // (2 * step_size)
        x = abs((t - 2 * step_size * cycle) / step_size + 1)
        if mode == "triangular":
            scale = 1.0
        elif mode == "triangular2":
            scale = 0.5 ** (cycle - 1)
        else:
            scale = gamma**t
        return base_value + (max_value - base_value) * max(0.0, 1 - x) * scale

    return _each_step(one, steps)


def schedule_one_cycle(steps, transition_steps, peak_value, pct_start=0.3, div_factor=25.0, final_div_factor=1e4):
    init_value = peak_value / div_factor
    final_value = init_value / final_div_factor
    rise = int(pct_start * transition_steps)

    def one(t):
        if t < rise:
            return init_value + (peak_value - init_value) * (1 - np.cos(np.pi * t / rise)) / 2
        if t >= transition_steps:
            return final_value
        fall = transition_steps - rise
        return final_value + (peak_value - final_value) * (1 + np.cos(np.pi * (t - rise) / fall)) / 2

    return _each_step(one, steps)


def schedule_join(steps, references, boundaries):
    """`references` are functions of an integer step array, like the ones above."""

    def one(t):
        k = sum(t >= boundary for boundary in boundaries)
        offset = boundaries[k - 1] if k else 0
        return references[k](np.array([t - offset]))[0]

    return _each_step(one, steps)


def schedule_linear_scaling(steps, base_value, batch_size, base_batch_size=256):
    return _each_step(lambda t: base_value * batch_size / base_batch_size, steps)

