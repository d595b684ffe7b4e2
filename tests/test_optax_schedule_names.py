"""optax's schedule names in `optim` and `schedules`: the same call gives optax's values."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optim
import schedules

STEPS = np.arange(0, 400)
WC = dict(init_value=0.0, peak_value=1.0, warmup_steps=20, decay_steps=120, end_value=0.1)

# (name, args, kwargs): each call is made on optax and on optim with the same arguments.
CASES = [
    ("constant_schedule", (0.3,), {}),
    ("polynomial_schedule", (1.0, 0.01, 2.0, 100), {"transition_begin": 30}),
    ("polynomial_schedule", (), dict(init_value=0.5, end_value=2.0, power=0.5, transition_steps=7)),
    ("linear_schedule", (0.5, 0.9, 100, 10), {}),
    ("linear_schedule", (), dict(init_value=1.0, end_value=0.0, transition_steps=300)),
    ("piecewise_constant_schedule", (1.0, {100: 0.1, 200: 0.5, 0: 2.0}), {}),
    ("piecewise_constant_schedule", (0.7,), {}),
    ("exponential_decay", (), dict(init_value=1.0, transition_steps=30, decay_rate=0.5)),
    ("exponential_decay", (), dict(init_value=1.0, transition_steps=30, decay_rate=0.5,
                                   transition_begin=50, staircase=True, end_value=0.05)),
    ("exponential_decay", (), dict(init_value=0.1, transition_steps=100, decay_rate=2.0,
                                   end_value=0.25)),
    ("cosine_decay_schedule", (1.0, 250), {}),
    ("cosine_decay_schedule", (), dict(init_value=2.0, decay_steps=100, alpha=0.1, exponent=2.0)),
    ("warmup_constant_schedule", (0.0, 1.0, 50), {}),
    ("warmup_cosine_decay_schedule", (), WC),
    ("warmup_cosine_decay_schedule", (0.1, 1.0, 0, 200), dict(end_value=0.01, exponent=0.5)),
    ("warmup_exponential_decay_schedule", (0.0, 1.0, 10, 25, 0.5), {}),
    ("warmup_exponential_decay_schedule", (0.0, 1.0, 10, 25, 0.5, 20, True, 0.1), {}),
    ("warmup_exponential_decay_schedule", (), dict(init_value=0.2, peak_value=1.0,
                                                   warmup_steps=0, transition_steps=40,
                                                   decay_rate=0.9)),
    ("piecewise_interpolate_schedule", ("linear", 1.0, {40: 0.1, 80: 0.01, 200: 3.0}), {}),
    ("piecewise_interpolate_schedule", ("cosine", 1.0, {0: 2.0, 50: 0.5, 51: 0.1}), {}),
    ("piecewise_interpolate_schedule", (), dict(interpolate_type="cosine", init_value=0.3)),
    ("linear_onecycle_schedule", (300, 1.0), {}),
    ("linear_onecycle_schedule", (), dict(transition_steps=200, peak_value=0.5, pct_start=0.1,
                                          pct_final=0.6, div_factor=10.0, final_div_factor=100.0)),
    ("cosine_onecycle_schedule", (300, 1.0), {}),
    ("cosine_onecycle_schedule", (), dict(transition_steps=100, peak_value=2.0, pct_start=0.0,
                                          div_factor=5.0, final_div_factor=10.0)),
    ("sgdr_schedule", ([dict(WC), dict(WC, warmup_steps=0, decay_steps=80),
                        dict(init_value=0.5, peak_value=0.5, warmup_steps=5, decay_steps=50)],),
     {}),
]
NAMES = sorted({case[0] for case in CASES} | {"join_schedules"})


def close(ours, reference):
    ours, reference = np.asarray(ours, np.float64), np.asarray(reference, np.float64)
    scale = max(np.abs(reference).max(), 1e-30)
    np.testing.assert_allclose(ours, reference, rtol=1e-6, atol=2e-7 * scale)


def values(schedule, form):
    if form == "int":
        return np.array([schedule(int(step)) for step in STEPS])
    steps = jnp.asarray(STEPS, jnp.int32)
    if form == "array":
        return schedule(steps)
    return jax.jit(jax.vmap(schedule))(steps)


@pytest.mark.parametrize("form", ["int", "array", "jit"])
@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_same_values_as_optax(case, form):
    name, args, kwargs = case
    reference = getattr(optax, name)(*args, **kwargs)
    expected = np.array([np.broadcast_to(reference(int(s)), ()) for s in STEPS])
    close(values(getattr(optim, name)(*args, **kwargs), form), expected)
    if hasattr(schedules, name) and name not in ("exponential_decay", "linear_schedule"):
        assert getattr(schedules, name) is getattr(optim, name)


@pytest.mark.parametrize("form", ["int", "jit"])
def test_join_schedules_with_several_joins_and_boundaries_at_zero(form):
    def parts(lib):
        return [lib.constant_schedule(5.0), lib.linear_schedule(0.0, 1.0, 30),
                lib.cosine_decay_schedule(1.0, 60), lib.exponential_decay(
                    init_value=1.0, transition_steps=10, decay_rate=0.8)]
    for boundaries in ([0, 0, 100], [0, 50, 50], [30, 90, 200]):
        expected = values(optax.join_schedules(parts(optax), boundaries), "int")
        close(values(optim.join_schedules(parts(optim), boundaries), form), expected)
        # optax's schedules joined by ours, ours joined by optax's
        close(values(optim.join_schedules(parts(optax), boundaries), form), expected)


def test_exponential_decay_is_this_librarys_and_linear_schedule_matches_too():
    ours = optim.exponential_decay(1.0, 0.5, 30, True, transition_begin=10, end_value=0.1)
    mine = schedules.exponential_decay(1.0, 0.5, 30, True, transition_begin=10, end_value=0.1)
    np.testing.assert_array_equal(values(ours, "jit"), values(mine, "jit"))
    np.testing.assert_array_equal(values(optim.linear_schedule(1.0, 0.0, 70, 5), "array"),
                                  values(schedules.linear_schedule(1.0, 0.0, 70, 5), "array"))
    # optax's positional order (init_value, transition_steps, decay_rate) fails loudly here
    with pytest.raises(ValueError, match="transition_steps"):
        optim.exponential_decay(1.0, 1000, 0.96)


def test_large_steps_neither_overflow_nor_give_nan():
    for schedule in (optim.warmup_cosine_decay_schedule(**WC),
                     optim.linear_onecycle_schedule(300, 1.0),
                     optim.exponential_decay(init_value=1.0, transition_steps=10,
                                             decay_rate=0.5, staircase=True)):
        out = jax.jit(schedule)(jnp.asarray([2**31 - 1, 2**31 - 2], jnp.int32))
        assert np.all(np.isfinite(out)), out


BAD = [
    (lambda: optim.polynomial_schedule(1.0, 0.0, 1.0, 0), "transition_steps", "hold init_value"),
    (lambda: optim.polynomial_schedule(1.0, 0.0, -1.0, 10), "power", "-1.0"),
    (lambda: optim.linear_schedule(1.0, 0.0, 10, -5), "transition_begin", "-5"),
    (lambda: optim.exponential_decay(init_value=1.0, transition_steps=0, decay_rate=0.5),
     "transition_steps", "0"),
    (lambda: optim.exponential_decay(init_value=1.0, transition_steps=10, decay_rate=0.0),
     "decay_rate", "0.0"),
    (lambda: optim.cosine_decay_schedule(1.0, 0), "decay_steps", "0"),
    (lambda: optim.cosine_decay_schedule(1.0, 10, alpha=float("nan")), "alpha", "nan"),
    (lambda: optim.piecewise_constant_schedule(1.0, {10: -0.5}), r"boundaries_and_scales\[10\]",
     "-0.5"),
    (lambda: optim.piecewise_constant_schedule(1.0, {-3: 0.5}), "boundaries_and_scales key",
     "-3"),
    (lambda: optim.piecewise_interpolate_schedule("cubic", 1.0), "interpolate_type", "cubic"),
    (lambda: optim.join_schedules([optim.constant_schedule(1.0)] * 2, [10, 5]), "boundaries",
     "10, 5"),
    (lambda: optim.join_schedules([optim.constant_schedule(1.0)] * 2, []), "boundaries", "got 0"),
    (lambda: optim.warmup_constant_schedule(0.0, 1.0, 0), "warmup_steps", "forever"),
    (lambda: optim.warmup_cosine_decay_schedule(0.0, 1.0, 10, 10), "decay_steps", "10"),
    (lambda: optim.warmup_exponential_decay_schedule(0.0, 1.0, 5, 0, 0.5), "transition_steps",
     "0"),
    (lambda: optim.sgdr_schedule([]), "cosine_kwargs", "none"),
    (lambda: optim.sgdr_schedule([dict(WC), dict(WC, decay_steps=5)]), r"cosine_kwargs\[1\]",
     "decay_steps"),
    (lambda: optim.linear_onecycle_schedule(300, 1.0, pct_start=0.5, pct_final=0.4),
     "pct_final", "0.4"),
    (lambda: optim.linear_onecycle_schedule(3, 1.0, pct_start=0.1, pct_final=0.2), "pct_start",
     "0, 0, 3"),
    (lambda: optim.cosine_onecycle_schedule(100, 1.0, pct_start=1.0), "pct_start", "1.0"),
    (lambda: optim.cosine_onecycle_schedule(0, 1.0), "transition_steps", "0"),
    (lambda: optim.cosine_onecycle_schedule(100, 1.0, div_factor=0.0), "div_factor", "0.0"),
]


@pytest.mark.parametrize("build, name, value", BAD, ids=[f"bad-{i}" for i in range(len(BAD))])
def test_bad_arguments_raise_naming_argument_and_value(build, name, value):
    with pytest.raises((ValueError, TypeError), match=name) as error:
        build()
    assert value in str(error.value)


def test_sgdr_schedule_rejects_a_non_dict_cycle():
    with pytest.raises(TypeError, match=r"cosine_kwargs\[0\]"):
        optim.sgdr_schedule([(1.0, 2.0)])


# optax.schedules' public names that are not schedule functions, and where they live here.
NOT_SCHEDULE_FUNCTIONS = {
    "Schedule", "StatefulSchedule", "WrappedSchedule",  # types (optim.Schedule: another part)
    "inject_hyperparams", "inject_stateful_hyperparams",  # wrappers, another part
    "InjectHyperparamsState", "InjectStatefulHyperparamsState",
}


def test_every_optax_schedule_name_exists_in_optim_and_schedules():
    names = {n for n in dir(optax.schedules) if not n.startswith("_")} - NOT_SCHEDULE_FUNCTIONS
    top = {n for n in names if hasattr(optax, n)}
    assert top == names, "optax's top-level schedule names changed"
    assert names == set(NAMES), sorted(names ^ set(NAMES))
    for name in names:
        assert name in optim.__all__ and callable(getattr(optim, name)), name
        assert name in schedules.__all__ and callable(getattr(schedules, name)), name
