"""The schedule cases shared by the schedule tests: each schedule with its NumPy float64
reference (tests/reference/schedules.py) and the steps it is checked at (boundaries, their
neighbours, far past the end and 2**31 - 1)."""

import math

import numpy as np
import reference as ref

import schedules as S

HUGE = 2**31 - 1
BASE_STEPS = [0, 1, 2, 3, 5, 7, 100, 1_000, 10**6, HUGE]


def steps_around(*boundaries, huge=True):
    """Sorted unique int32 steps: the base set, each boundary and its neighbours."""
    steps = set(BASE_STEPS if huge else BASE_STEPS[:-1])
    for b in boundaries:
        steps.update(s for s in (b - 1, b, b + 1) if 0 <= s <= HUGE)
    return np.array(sorted(steps), np.int32)


def _join_reference(steps):
    return ref.schedule_join(
        steps,
        [
            lambda t: ref.schedule_constant(t, 1.0),
            lambda t: ref.schedule_step_decay(t, 1.0, 5, 0.5),
            lambda t: ref.schedule_cosine_decay(t, 0.5, 20),
        ],
        [10, 30],
    )


def sgdr_restarts(period, mult, limit=HUGE):
    starts, start, length = [], 0.0, float(period)
    while start <= limit:
        starts.append(start)
        start, length = start + length, length * mult
    return starts


def sgdr_steps(period, mult, limit=3_000):
    edges = [math.floor(s) for s in sgdr_restarts(period, mult, limit)]
    return steps_around(*edges, *(e + period // 2 for e in edges))


# (id, schedule, reference of an int step array, steps)
CASES = [
    ("constant", lambda: S.constant(0.3), lambda t: ref.schedule_constant(t, 0.3), steps_around()),
    (
        "step_decay",
        lambda: S.step_decay(0.1, 10, 0.5),
        lambda t: ref.schedule_step_decay(t, 0.1, 10, 0.5),
        steps_around(10, 20, 30, 1_000_000, 2**30),
    ),
    (
        "step_decay_growth",
        lambda: S.step_decay(2.0, 3, 1.5),
        lambda t: ref.schedule_step_decay(t, 2.0, 3, 1.5),
        steps_around(3, 6, 60, huge=False)[:-2],
    ),
    (
        "piecewise_constant",
        lambda: S.piecewise_constant(1.0, {50: 0.5, 5: 0.1, 1000: 2.0}),
        lambda t: ref.schedule_piecewise_constant(t, 1.0, {5: 0.1, 50: 0.5, 1000: 2.0}),
        steps_around(5, 50, 1000),
    ),
    (
        "piecewise_constant_none",
        lambda: S.piecewise_constant(0.5),
        lambda t: ref.schedule_piecewise_constant(t, 0.5, {}),
        steps_around(),
    ),
    (
        "exponential_decay",
        lambda: S.exponential_decay(1.0, 0.96, 100),
        lambda t: ref.schedule_exponential_decay(t, 1.0, 0.96, 100),
        steps_around(100, 200),
    ),
    (
        "exponential_decay_staircase",
        lambda: S.exponential_decay(1.0, 0.5, 10, True, transition_begin=50, end_value=0.1),
        lambda t: ref.schedule_exponential_decay(t, 1.0, 0.5, 10, True, 50, 0.1),
        steps_around(50, 60, 70, 80, 90),
    ),
    (
        "exponential_growth",
        lambda: S.exponential_decay(0.1, 1.01, 10, end_value=1.0),
        lambda t: ref.schedule_exponential_decay(t, 0.1, 1.01, 10, end_value=1.0),
        steps_around(2313, 2314),
    ),
    (
        "inverse_time_decay",
        lambda: S.inverse_time_decay(1.0, 0.5, 10),
        lambda t: ref.schedule_inverse_time_decay(t, 1.0, 0.5, 10),
        steps_around(10, 20),
    ),
    (
        "inverse_time_decay_staircase",
        lambda: S.inverse_time_decay(2.0, 1.0, 7, staircase=True),
        lambda t: ref.schedule_inverse_time_decay(t, 2.0, 1.0, 7, True),
        steps_around(7, 14, 21),
    ),
    (
        "polynomial_decay",
        lambda: S.polynomial_decay(1.0, 0.01, 2.0, 100, 10),
        lambda t: ref.schedule_polynomial_decay(t, 1.0, 0.01, 2.0, 100, 10),
        steps_around(10, 50, 110),
    ),
    (
        "polynomial_decay_sqrt",
        lambda: S.polynomial_decay(0.0, 1.0, 0.5, 30),
        lambda t: ref.schedule_polynomial_decay(t, 0.0, 1.0, 0.5, 30),
        steps_around(15, 30),
    ),
    (
        "linear_schedule_momentum",
        lambda: S.linear_schedule(0.5, 0.9, 1000),
        lambda t: ref.schedule_linear(t, 0.5, 0.9, 1000),
        steps_around(500, 1000),
    ),
    (
        "linear_schedule_begin",
        lambda: S.linear_schedule(1.0, 0.0, 50, 20),
        lambda t: ref.schedule_linear(t, 1.0, 0.0, 50, 20),
        steps_around(20, 45, 70),
    ),
    (
        "cosine_decay",
        lambda: S.cosine_decay(1.0, 100),
        lambda t: ref.schedule_cosine_decay(t, 1.0, 100),
        steps_around(50, 100),
    ),
    (
        "cosine_decay_alpha_exponent",
        lambda: S.cosine_decay(0.1, 37, alpha=0.1, exponent=2.0),
        lambda t: ref.schedule_cosine_decay(t, 0.1, 37, 0.1, 2.0),
        steps_around(18, 37),
    ),
    (
        "linear_warmup",
        lambda: S.linear_warmup(0.0, 1.0, 10),
        lambda t: ref.schedule_linear_warmup(t, 0.0, 1.0, 10),
        steps_around(10),
    ),
    (
        "linear_warmup_none",
        lambda: S.linear_warmup(0.1, 1.0, 0),
        lambda t: ref.schedule_linear_warmup(t, 0.1, 1.0, 0),
        steps_around(),
    ),
    (
        "warmup_cosine_decay",
        lambda: S.warmup_cosine_decay(0.0, 1.0, 10, 100, end_value=0.01),
        lambda t: ref.schedule_warmup_cosine_decay(t, 0.0, 1.0, 10, 100, 0.01),
        steps_around(10, 55, 100),
    ),
    (
        "warmup_cosine_decay_no_warmup",
        lambda: S.warmup_cosine_decay(0.1, 1.0, 0, 50, exponent=2.0),
        lambda t: ref.schedule_warmup_cosine_decay(t, 0.1, 1.0, 0, 50, 0.0, 2.0),
        steps_around(25, 50),
    ),
    (
        "sgdr_constant_period",
        lambda: S.sgdr(1.0, 10),
        lambda t: ref.schedule_sgdr(t, 1.0, 10),
        steps_around(10, 20, 30, 2**31 - 8, 2**31 - 7),
    ),
    (
        "sgdr_doubling",
        lambda: S.sgdr(0.1, 10, 2.0, 0.001),
        lambda t: ref.schedule_sgdr(t, 0.1, 10, 2.0, 0.001),
        sgdr_steps(10, 2.0),
    ),
    (
        "sgdr_tripling",
        lambda: S.sgdr(1.0, 1, 3.0),
        lambda t: ref.schedule_sgdr(t, 1.0, 1, 3.0),
        sgdr_steps(1, 3.0),
    ),
    (
        "sgdr_one_and_a_half",
        lambda: S.sgdr(1.0, 4, 1.5, 0.5),
        lambda t: ref.schedule_sgdr(t, 1.0, 4, 1.5, 0.5),
        sgdr_steps(4, 1.5),
    ),
    (
        "sgdr_one_point_one",
        lambda: S.sgdr(1.0, 7, 1.1),
        lambda t: ref.schedule_sgdr(t, 1.0, 7, 1.1),
        sgdr_steps(7, 1.1),
    ),
    (
        "sgdr_close_to_one",
        lambda: S.sgdr(1.0, 10, 1.01),
        lambda t: ref.schedule_sgdr(t, 1.0, 10, 1.01),
        sgdr_steps(10, 1.01),
    ),
    (
        "cyclic_triangular",
        lambda: S.cyclic_triangular(0.1, 1.0, 5),
        lambda t: ref.schedule_cyclic_triangular(t, 0.1, 1.0, 5),
        steps_around(5, 10, 15, 20, 2**31 - 8),
    ),
    (
        "cyclic_triangular2",
        lambda: S.cyclic_triangular(0.1, 1.0, 5, "triangular2"),
        lambda t: ref.schedule_cyclic_triangular(t, 0.1, 1.0, 5, "triangular2"),
        steps_around(5, 10, 15, 20, 25, 30),
    ),
    (
        "cyclic_exp_range",
        lambda: S.cyclic_triangular(0.1, 1.0, 5, "exp_range", gamma=0.99),
        lambda t: ref.schedule_cyclic_triangular(t, 0.1, 1.0, 5, "exp_range", 0.99),
        steps_around(5, 10, 15, 20, 25, 30),
    ),
    (
        "one_cycle",
        lambda: S.one_cycle(100, 1.0),
        lambda t: ref.schedule_one_cycle(t, 100, 1.0),
        steps_around(30, 65, 100),
    ),
    (
        "one_cycle_custom",
        lambda: S.one_cycle(37, 0.5, pct_start=0.25, div_factor=10.0, final_div_factor=100.0),
        lambda t: ref.schedule_one_cycle(t, 37, 0.5, 0.25, 10.0, 100.0),
        steps_around(9, 20, 37),
    ),
    (
        "one_cycle_no_rise",
        lambda: S.one_cycle(20, 1.0, pct_start=0.0),
        lambda t: ref.schedule_one_cycle(t, 20, 1.0, 0.0),
        steps_around(10, 20),
    ),
    (
        "join",
        lambda: S.join([S.constant(1.0), S.step_decay(1.0, 5, 0.5), S.cosine_decay(0.5, 20)], [10, 30]),
        _join_reference,
        steps_around(10, 15, 30, 40, 50),
    ),
    (
        "linear_scaling",
        lambda: S.linear_scaling(0.1, 8192),
        lambda t: ref.schedule_linear_scaling(t, 0.1, 8192),
        steps_around(),
    ),
]
IDS = [case[0] for case in CASES]

# In float32 sgdr's place in a cycle is good to ~eps * log1p(t (m - 1) / period) / (m - 1)
# (documented): ~2e-5 for m = 1.1 and ~2e-4 for m = 1.01 at step 2**31.
FLOAT32_ATOL = {"sgdr_one_point_one": 1e-4, "sgdr_close_to_one": 5e-4}

