"""Learning-rate (and momentum) schedules: pure, jit- and vmap-safe `step -> value` functions.

    lr = schedules.warmup_cosine_decay(0.0, 1e-3, warmup_steps=500, decay_steps=10_000)
    lr(0), lr(500), lr(10_000)          # 0.0, 1e-3, 0.0 as float32 arrays
    jax.vmap(lr)(jnp.arange(10_000))    # the whole curve at once

Any of them may be given wherever an optimizer takes a number (learning rate, momentum, weight
decay, ...). A step is a Python int or an integer array; the value has the step's shape and is
float32 (float64 under x64); steps up to 2**31 - 1 and beyond neither overflow nor give NaN.
Arguments are checked when the schedule is made: a `ValueError` names the argument, the
allowed range and the value given.

Momentum is scheduled the same way: lecture 001 starts momentum at 0.5 and raises it to 0.9 or
0.99 once the large gradients are gone, `linear_schedule(0.5, 0.9, transition_steps=1000)`.
"""

# optax's schedule names (exponential_decay and linear_schedule are the ones above)
from schedules.optax_names import (
    constant_schedule,
    cosine_decay_schedule,
    cosine_onecycle_schedule,
    join_schedules,
    linear_onecycle_schedule,
    piecewise_constant_schedule,
    piecewise_interpolate_schedule,
    polynomial_schedule,
    sgdr_schedule,
    warmup_constant_schedule,
    warmup_cosine_decay_schedule,
    warmup_exponential_decay_schedule,
)

# combine
from schedules.combine import join

# cyclic
from schedules.cyclic import cyclic_triangular, one_cycle, sgdr

# decay
from schedules.decay import (
    constant,
    cosine_decay,
    exponential_decay,
    inverse_time_decay,
    linear_schedule,
    piecewise_constant,
    polynomial_decay,
    step_decay,
)

# scaling
from schedules.scaling import linear_scaling

# warmup
from schedules.warmup import linear_warmup, warmup_cosine_decay

# optax's schedule types (optax.schedules' injection wrappers are in optim, which imports this)
from schedules.stateful import Schedule, StatefulSchedule, WrappedSchedule

__all__ = [
    # decay
    "constant",
    "cosine_decay",
    "exponential_decay",
    "inverse_time_decay",
    "linear_schedule",
    "piecewise_constant",
    "polynomial_decay",
    "step_decay",
    # warmup
    "linear_warmup",
    "warmup_cosine_decay",
    # cyclic
    "cyclic_triangular",
    "one_cycle",
    "sgdr",
    # combine
    "join",
    # scaling
    "linear_scaling",
    # optax's schedule names
    "constant_schedule",
    "cosine_decay_schedule",
    "cosine_onecycle_schedule",
    "join_schedules",
    "linear_onecycle_schedule",
    "piecewise_constant_schedule",
    "piecewise_interpolate_schedule",
    "polynomial_schedule",
    "sgdr_schedule",
    "warmup_constant_schedule",
    "warmup_cosine_decay_schedule",
    "warmup_exponential_decay_schedule",
    # optax's schedule types
    "Schedule",
    "StatefulSchedule",
    "WrappedSchedule",
]
