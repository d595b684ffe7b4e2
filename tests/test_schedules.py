"""Schedules against their closed forms (tests/reference.py, NumPy float64), against optax where
optax has the same schedule, at boundaries, far past the end and at 2**31 - 1; eagerly and under
jit(vmap) over int32 steps, in float32 and float64; and every argument check."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference as ref
from hypothesis import given, settings
from hypothesis import strategies as st

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


def assert_matches(actual, expected, dtype, steps, atol32=2e-6):
    actual = np.asarray(actual)
    assert actual.dtype == dtype
    assert actual.shape == expected.shape
    assert np.all(np.isfinite(actual)), f"non-finite values at steps {steps[~np.isfinite(actual)]}"
    if dtype == np.float32:
        rtol, atol = 2e-5, atol32 * np.max(np.abs(expected))
    else:
        rtol, atol = 1e-11, 1e-13 * np.max(np.abs(expected))
    bad = ~np.isclose(actual, expected, rtol=rtol, atol=atol)
    assert not bad.any(), (
        f"mismatch at steps {steps[bad]}: got {actual[bad]}, expected {expected[bad]}"
    )


@pytest.mark.parametrize("name, make, reference, steps", CASES, ids=IDS)
def test_matches_reference_float32(name, make, reference, steps):
    schedule = make()
    expected = reference(steps)
    atol = FLOAT32_ATOL.get(name, 2e-6)
    jitted = jax.jit(jax.vmap(schedule))(jnp.asarray(steps))
    assert_matches(jitted, expected, np.float32, steps, atol)
    # Eagerly: the whole array at once (padded to a shared length, so that the op-by-op
    # compilations are reused from case to case), and one Python int.
    eager = schedule(jnp.asarray(np.pad(steps, (0, -len(steps) % 128), mode="edge")))
    assert_matches(eager[: len(steps)], expected, np.float32, steps, atol)
    assert_matches(schedule(int(steps[-1])), expected[-1], np.float32, steps[-1:], atol)


@pytest.mark.parametrize("name, make, reference, steps", CASES, ids=IDS)
def test_matches_reference_float64(name, make, reference, steps, x64):
    schedule = make()
    values = jax.jit(jax.vmap(schedule))(jnp.asarray(steps, jnp.int32))
    assert_matches(values, reference(steps), np.float64, steps)


@pytest.mark.parametrize("name, make, reference, steps", CASES, ids=IDS)
def test_step_forms_agree(name, make, reference, steps):
    """2-D int arrays, integer-valued float arrays and Python ints give the same values, and a
    negative step is step 0."""
    schedule = make()
    small = steps[steps < 2**24][:6]
    ints = np.asarray(schedule(jnp.asarray(small.reshape(2, 3))))
    assert ints.shape == (2, 3)
    floats = schedule(jnp.asarray(small.reshape(2, 3), jnp.float32))
    # XLA rounds a division by a constant differently in scalar and vector code.
    np.testing.assert_allclose(ints, floats, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(ints.ravel(), [schedule(int(t)) for t in small], rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(schedule(-5), schedule(0))


# ---- the lecture's forms ---------------------------------------------------------------------


def test_lecture_decays():
    """Lecture 002: step decay (halve every few epochs), a0 exp(-k t), a0 / (1 + k t)."""
    t = np.arange(0, 500, 7)
    a0, k = 0.5, 0.01
    np.testing.assert_allclose(S.exponential_decay(a0, math.exp(-k))(t), a0 * np.exp(-k * t), rtol=1e-5)
    np.testing.assert_allclose(S.inverse_time_decay(a0, k)(t), a0 / (1 + k * t), rtol=1e-6)
    halved = S.step_decay(a0, 50, 0.5)(t)
    np.testing.assert_array_equal(halved, a0 * 0.5 ** (t // 50))
    np.testing.assert_array_equal(halved, S.exponential_decay(a0, 0.5, 50, staircase=True)(t))


def test_momentum_schedule():
    """Lecture 001: momentum from 0.5 smoothly raised to 0.9."""
    momentum = S.linear_schedule(0.5, 0.9, transition_steps=100)
    np.testing.assert_allclose(momentum(np.array([0, 50, 100, 10**6])), [0.5, 0.7, 0.9, 0.9], rtol=1e-6)


def test_linear_scaling_rule():
    """Goyal et al.: lr 0.1 at 256 images is 3.2 at 8k; a schedule is scaled at every step."""
    assert float(S.linear_scaling(0.1, 8192)(0)) == pytest.approx(3.2)
    assert float(S.linear_scaling(0.1, 32, base_batch_size=64)(123)) == pytest.approx(0.05)
    warm = S.linear_warmup(0.1, 1.0, 10)
    t = jnp.arange(20)
    np.testing.assert_allclose(S.linear_scaling(warm, 512)(t), 2 * warm(t), rtol=1e-6)


# ---- sgdr: restarts land exactly on their steps ----------------------------------------------


def restarts_and_lengths(period, mult, limit):
    """Integer restart steps below `limit` and the length of the cycle each one ends."""
    if mult == 1.0:
        ks = [1, 2, 3, 1_000, 10**5, (limit - 1) // period]
        return [k * period for k in ks], [period] * len(ks)
    starts = [s for s in sgdr_restarts(period, mult, limit) if s == int(s)]
    starts = [int(s) for s in starts if s < limit]
    return starts[1:], list(np.diff(starts))


@pytest.mark.parametrize("period, mult", [(10, 1.0), (10, 2.0), (1, 2.0), (1, 3.0), (3, 4.0), (8, 1.5)])
@pytest.mark.parametrize("x64_enabled", [False, True])
def test_sgdr_restarts_exactly(period, mult, x64_enabled):
    """At every restart step the value is exactly init_value; one step before, the last value
    of the cycle. Boundaries are exact integers here; float32 resolves them up to 2**24."""
    restarts, lengths = restarts_and_lengths(period, mult, HUGE if x64_enabled else 2**24)
    with jax.enable_x64(x64_enabled):
        schedule = jax.jit(jax.vmap(S.sgdr(1.0, period, mult, min_value=0.25)))
        at = np.asarray(schedule(jnp.asarray(restarts, jnp.int32)))
        before = np.asarray(schedule(jnp.asarray(restarts, jnp.int32) - 1))
    np.testing.assert_array_equal(at, np.ones(len(restarts)))
    lengths = np.asarray(lengths, np.float64)
    last = 0.25 + 0.75 * (1 + np.cos(np.pi * (lengths - 1) / lengths)) / 2
    np.testing.assert_allclose(before, last, rtol=1e-6 if not x64_enabled else 1e-13)


@settings(max_examples=25, deadline=None)
@given(
    period=st.integers(1, 50),
    mult=st.sampled_from([1.0, 1.25, 1.5, 2.0, 3.0]),
    steps=st.lists(st.integers(0, 100_000), min_size=1, max_size=8),
)
def test_sgdr_any_step(period, mult, steps):
    steps = np.resize(np.array(steps, np.int32), 8)  # one shape: no recompilation per example
    expected = ref.schedule_sgdr(steps, 1.0, period, mult)
    actual = np.asarray(S.sgdr(1.0, period, mult)(jnp.asarray(steps)))
    # Away from exact boundaries float32 places a step within ~1e-7 relative of its cycle.
    np.testing.assert_allclose(actual, expected, atol=5e-4)


def test_huge_python_int_step():
    """A Python int beyond int32 is taken as a float step instead of overflowing."""
    for schedule in (S.cosine_decay(1.0, 10), S.sgdr(1.0, 10, 2.0), S.exponential_decay(1.0, 0.5)):
        value = schedule(2**40)
        assert value.dtype == jnp.float32 and np.isfinite(value)


# ---- hyperparameters given as traced values ----------------------------------------------------


def test_values_may_be_traced():
    """A sweep may vmap over a schedule's values (not its step counts)."""
    lrs = jnp.array([1.0, 2.0, 4.0])
    got = jax.jit(jax.vmap(lambda lr: S.exponential_decay(lr, 0.5, 10)(25)))(lrs)
    np.testing.assert_allclose(got, lrs * 0.5**2.5, rtol=1e-6)
    rates = jnp.array([0.5, 2.0])
    clamped = jax.jit(jax.vmap(lambda r: S.exponential_decay(1.0, r, end_value=1.5)(5)))(rates)
    np.testing.assert_allclose(clamped, [1.5, 1.5])
    peaks = jnp.array([0.1, 1.0])
    got = jax.jit(jax.vmap(lambda p: S.warmup_cosine_decay(0.0, p, 10, 110)(jnp.array([5, 10, 60]))))(peaks)
    np.testing.assert_allclose(got, np.outer([0.1, 1.0], [0.5, 1.0, 0.5]), rtol=1e-6, atol=1e-7)


# ---- optax, where it has the same schedule ------------------------------------------------------


def optax_pairs():
    import optax

    sgdr_cycles = [
        dict(init_value=1.0, peak_value=1.0, warmup_steps=0, decay_steps=10 * 2**i, end_value=0.1)
        for i in range(4)
    ]
    return [
        ("constant", S.constant(0.3), optax.constant_schedule(0.3), 50),
        ("polynomial", S.polynomial_decay(1.0, 0.01, 2.0, 100, 10), optax.polynomial_schedule(1.0, 0.01, 2.0, 100, 10), 150),
        ("linear", S.linear_schedule(0.5, 0.9, 100, 7), optax.linear_schedule(0.5, 0.9, 100, 7), 150),
        ("piecewise", S.piecewise_constant(1.0, {5: 0.1, 50: 0.5}), optax.piecewise_constant_schedule(1.0, {5: 0.1, 50: 0.5}), 80),
        ("exponential", S.exponential_decay(1.0, 0.96, 10), optax.exponential_decay(1.0, 10, 0.96), 300),
        (
            "exponential_staircase",
            S.exponential_decay(2.0, 0.5, 10, True, transition_begin=15, end_value=0.1),
            optax.exponential_decay(2.0, 10, 0.5, 15, True, 0.1),
            120,
        ),
        ("exponential_growth", S.exponential_decay(0.1, 1.1, 3, end_value=2.0), optax.exponential_decay(0.1, 3, 1.1, end_value=2.0), 150),
        ("step_decay", S.step_decay(1.0, 7, 0.3), optax.exponential_decay(1.0, 7, 0.3, staircase=True), 60),
        ("cosine", S.cosine_decay(1.0, 100, 0.1, 1.5), optax.cosine_decay_schedule(1.0, 100, 0.1, 1.5), 150),
        ("warmup", S.linear_warmup(0.0, 1.0, 10), optax.warmup_constant_schedule(0.0, 1.0, 10), 30),
        (
            "warmup_cosine",
            S.warmup_cosine_decay(0.1, 1.0, 10, 100, 0.01, 2.0),
            optax.warmup_cosine_decay_schedule(0.1, 1.0, 10, 100, 0.01, 2.0),
            150,
        ),
        ("sgdr", S.sgdr(1.0, 10, 2.0, 0.1), optax.sgdr_schedule(sgdr_cycles), 150),
        ("one_cycle", S.one_cycle(100, 1.0), optax.cosine_onecycle_schedule(100, 1.0), 150),
        (
            "one_cycle_custom",
            S.one_cycle(37, 0.5, 0.25, 10.0, 100.0),
            optax.cosine_onecycle_schedule(37, 0.5, 0.25, 10.0, 100.0),
            60,
        ),
        (
            "join",
            S.join([S.linear_warmup(0.0, 1.0, 5), optax.cosine_decay_schedule(1.0, 20)], [5]),
            optax.join_schedules([optax.linear_schedule(0.0, 1.0, 5), optax.cosine_decay_schedule(1.0, 20)], [5]),
            40,
        ),
    ]


def test_equals_optax():
    steps = jnp.arange(0, 300, dtype=jnp.int32)
    for name, ours, theirs, end in optax_pairs():
        t = steps[:end]
        np.testing.assert_allclose(
            jax.jit(jax.vmap(ours))(t),
            jax.jit(jax.vmap(theirs))(t),
            rtol=1e-5,
            atol=1e-6,
            err_msg=name,
        )


def test_schedules_drive_optax():
    """A schedule is an optax schedule: optax.scale_by_schedule takes it as is."""
    import optax

    tx = optax.sgd(S.step_decay(1.0, 2, 0.5))
    params = {"w": jnp.ones(3)}
    state = tx.init(params)
    seen = []
    for _ in range(5):
        updates, state = tx.update({"w": jnp.ones(3)}, state)
        seen.append(float(-updates["w"][0]))
    np.testing.assert_allclose(seen, [1.0, 1.0, 0.5, 0.5, 0.25])


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
        ]
    )
    assert all(callable(getattr(S, name)) for name in S.__all__)
