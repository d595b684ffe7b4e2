"""Every argument check of the schedules: the name, the allowed range and the value given in
each message; wrong structures and types; step counts that must be concrete; the public names."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import schedules as S

# ---- argument checks ---------------------------------------------------------------------------

ONE_ARGUMENT_ERRORS = [
    # (factory, kwargs, argument, bad value, allowed range as printed)
    (S.constant, {}, "value", math.nan, "(-inf, inf)"),
    (S.step_decay, {"init_value": 1.0, "factor": 0.5}, "step_size", 0, "[1, inf)"),
    (S.step_decay, {"init_value": 1.0, "factor": 0.5}, "step_size", 2.5, "[1, inf)"),
    (S.step_decay, {"init_value": 1.0, "step_size": 2}, "factor", -0.5, "[0, inf)"),
    (S.step_decay, {"step_size": 2, "factor": 0.5}, "init_value", math.inf, "(-inf, inf)"),
    (S.exponential_decay, {"init_value": 1.0}, "decay_rate", 0.0, "(0, inf)"),
    (S.exponential_decay, {"init_value": 1.0, "decay_rate": 0.5}, "transition_steps", 0, "[1, inf)"),
    (S.exponential_decay, {"init_value": 1.0, "decay_rate": 0.5}, "transition_begin", -1, "[0, inf)"),
    (S.exponential_decay, {"init_value": 1.0, "decay_rate": 0.5}, "end_value", math.nan, "(-inf, inf)"),
    (S.inverse_time_decay, {"init_value": 1.0}, "decay_rate", -1.0, "[0, inf)"),
    (S.inverse_time_decay, {"init_value": 1.0, "decay_rate": 1.0}, "transition_steps", 0, "[1, inf)"),
    (S.polynomial_decay, {"init_value": 1.0, "end_value": 0.0, "transition_steps": 10}, "power", 0.0, "(0, inf)"),
    (S.polynomial_decay, {"init_value": 1.0, "end_value": 0.0, "power": 1.0}, "transition_steps", 0, "[1, inf)"),
    (S.polynomial_decay, {"init_value": 1.0, "end_value": 0.0, "power": 1.0, "transition_steps": 5}, "transition_begin", -5, "[0, inf)"),
    (S.linear_schedule, {"init_value": 0.5, "end_value": 0.9}, "transition_steps", -10, "[1, inf)"),
    (S.cosine_decay, {"init_value": 1.0}, "decay_steps", 0, "[1, inf)"),
    (S.cosine_decay, {"init_value": 1.0, "decay_steps": 10}, "alpha", 1.5, "[0, 1]"),
    (S.cosine_decay, {"init_value": 1.0, "decay_steps": 10}, "exponent", 0.0, "(0, inf)"),
    (S.linear_warmup, {"init_value": 0.0, "peak_value": 1.0}, "warmup_steps", -1, "[0, inf)"),
    (S.warmup_cosine_decay, {"init_value": 0.0, "peak_value": 1.0, "decay_steps": 100}, "warmup_steps", -1, "[0, inf)"),
    (S.warmup_cosine_decay, {"init_value": 0.0, "peak_value": 1.0, "warmup_steps": 10}, "decay_steps", 10, "[11, inf)"),
    (S.warmup_cosine_decay, {"init_value": 0.0, "peak_value": 1.0, "warmup_steps": 0, "decay_steps": 9}, "exponent", -1.0, "(0, inf)"),
    (S.sgdr, {"init_value": 1.0}, "period", 0, "[1, inf)"),
    (S.sgdr, {"init_value": 1.0, "period": 10}, "period_mult", 0.5, "[1, inf)"),
    (S.sgdr, {"init_value": 1.0, "period": 10}, "min_value", math.nan, "(-inf, inf)"),
    (S.cyclic_triangular, {"base_value": 0.1, "max_value": 1.0}, "step_size", 0, "[1, inf)"),
    (S.cyclic_triangular, {"base_value": 0.1, "max_value": 1.0, "step_size": 5}, "mode", "triangle", "one of 'triangular', 'triangular2', 'exp_range'"),
    (S.cyclic_triangular, {"base_value": 0.1, "max_value": 1.0, "step_size": 5}, "gamma", 0.0, "(0, 1]"),
    (S.cyclic_triangular, {"base_value": 0.1, "max_value": 1.0, "step_size": 5}, "gamma", 1.5, "(0, 1]"),
    (S.one_cycle, {"peak_value": 1.0}, "transition_steps", 0, "[1, inf)"),
    (S.one_cycle, {"transition_steps": 100, "peak_value": 1.0}, "pct_start", 1.0, "[0, 1)"),
    (S.one_cycle, {"transition_steps": 100, "peak_value": 1.0}, "div_factor", 0.0, "(0, inf)"),
    (S.one_cycle, {"transition_steps": 100, "peak_value": 1.0}, "final_div_factor", -1.0, "(0, inf)"),
    (S.linear_scaling, {"batch_size": 512}, "base_value", 0.0, "(0, inf)"),
    (S.linear_scaling, {"base_value": 0.1}, "batch_size", 0, "[1, inf)"),
    (S.linear_scaling, {"base_value": 0.1, "batch_size": 512}, "base_batch_size", -256, "[1, inf)"),
]


@pytest.mark.parametrize(
    "factory, kwargs, argument, value, allowed",
    ONE_ARGUMENT_ERRORS,
    ids=[f"{case[0].__name__}-{case[2]}={case[3]!r}" for case in ONE_ARGUMENT_ERRORS],
)
def test_invalid_argument(factory, kwargs, argument, value, allowed):
    with pytest.raises(ValueError) as error:
        factory(**kwargs, **{argument: value})
    message = str(error.value)
    assert message.startswith(f"{argument} must be"), message
    assert allowed in message, message
    assert message.endswith(f"got {value!r}"), message


@pytest.mark.parametrize(
    "call, pattern",
    [
        (lambda: S.piecewise_constant(1.0, {-1: 0.5}), r"^boundaries_and_scales key must be an integer in \[0, inf\), got -1$"),
        (lambda: S.piecewise_constant(1.0, {10: -0.1}), r"^boundaries_and_scales\[10\] must be .*\[0, inf\), got -0\.1$"),
        (lambda: S.join([S.constant(1.0)] * 2, [-1]), r"^boundaries\[0\] must be an integer in \[0, inf\), got -1$"),
        (lambda: S.join([S.constant(1.0)] * 2, [1, 2]), r"^boundaries must hold len\(schedules\) - 1 = 1 steps, got 2: \[1, 2\]$"),
        (lambda: S.join([S.constant(1.0)] * 3, [20, 10]), r"^boundaries must be non-decreasing, got \[20, 10\]$"),
        (lambda: S.join([], []), r"^schedules must hold at least one schedule"),
        (lambda: S.cosine_decay(1.0, np.array([10, 20])), r"^decay_steps must be an integer, got"),
    ],
)
def test_invalid_structure(call, pattern):
    with pytest.raises((ValueError, TypeError), match=pattern):
        call()


@pytest.mark.parametrize(
    "call, pattern",
    [
        (lambda: S.constant("0.1"), r"^value must be a real number, got '0\.1'$"),
        (lambda: S.step_decay(1.0, True, 0.5), r"^step_size must be an integer, got True$"),
        (lambda: S.exponential_decay(1.0, 0.5, staircase="yes"), r"^staircase must be True or False, got 'yes'$"),
        (lambda: S.piecewise_constant(1.0, [(10, 0.1)]), r"^boundaries_and_scales must be a mapping"),
        (lambda: S.join([S.constant(1.0), 0.5], [10]), r"^schedules\[1\] must be a callable step -> value, got 0\.5$"),
        (lambda: S.constant(jnp.ones(3)), r"^value must be a scalar, got an array of shape \(3,\)$"),
    ],
)
def test_wrong_types(call, pattern):
    with pytest.raises((TypeError, ValueError), match=pattern):
        call()


def test_step_counts_must_be_concrete():
    with pytest.raises(TypeError, match=r"^decay_steps must be a concrete integer"):
        jax.jit(lambda n: S.cosine_decay(1.0, n)(0))(10)
    with pytest.raises(TypeError, match=r"^period_mult must be a concrete number"):
        jax.jit(lambda m: S.sgdr(1.0, 10, m)(0))(2.0)


def test_integral_float_step_counts_accepted():
    """Configs often write 1e4 for a step count."""
    np.testing.assert_array_equal(S.cosine_decay(1.0, 1e4)(5000), S.cosine_decay(1.0, 10_000)(5000))


def test_public_names():
    assert sorted(S.__all__) == sorted(
        [
            "constant", "step_decay", "piecewise_constant", "exponential_decay",
            "inverse_time_decay", "polynomial_decay", "linear_schedule", "cosine_decay",
            "linear_warmup", "warmup_cosine_decay", "sgdr", "cyclic_triangular", "one_cycle",
            "join", "linear_scaling",
            # optax's schedule names (tests/test_optax_schedule_names.py)
            "constant_schedule", "cosine_decay_schedule", "cosine_onecycle_schedule",
            "join_schedules", "linear_onecycle_schedule", "piecewise_constant_schedule",
            "piecewise_interpolate_schedule", "polynomial_schedule", "sgdr_schedule",
            "warmup_constant_schedule", "warmup_cosine_decay_schedule",
            "warmup_exponential_decay_schedule",
            # optax.schedules' types (schedules/stateful.py)
            "Schedule", "StatefulSchedule", "WrappedSchedule",
        ]
    )
    assert all(callable(getattr(S, name)) for name in S.__all__)
