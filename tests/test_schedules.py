"""Schedules against their closed forms (tests/reference/schedules.py, NumPy float64; the cases
are in schedule_cases.py), against optax where optax has the same schedule, at boundaries, far
past the end and at 2**31 - 1; eagerly and under jit(vmap) over int32 steps, in float32 and
float64. The argument checks are in test_schedule_arguments.py."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference as ref
from hypothesis import given, settings
from hypothesis import strategies as st
from schedule_cases import CASES, FLOAT32_ATOL, HUGE, IDS, sgdr_restarts

import schedules as S


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


# sgdr with a period multiplier walks its cycles in a loop: the four largest programs are slow.
SLOW = {"sgdr_close_to_one", "sgdr_one_point_one", "sgdr_doubling", "sgdr_tripling"}


@pytest.mark.parametrize(
    "name, make, reference, steps",
    [pytest.param(*case, marks=pytest.mark.slow) if case[0] in SLOW else case for case in CASES],
    ids=IDS,
)
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


@pytest.mark.slow
@pytest.mark.parametrize("name, make, reference, steps", CASES, ids=IDS)
def test_matches_reference_float64(name, make, reference, steps, x64):
    schedule = make()
    values = jax.jit(jax.vmap(schedule))(jnp.asarray(steps, jnp.int32))
    assert_matches(values, reference(steps), np.float64, steps)


@pytest.mark.slow
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
@pytest.mark.parametrize("x64_enabled", [False, pytest.param(True, marks=pytest.mark.slow)])
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


@pytest.mark.slow
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


@pytest.mark.slow
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
