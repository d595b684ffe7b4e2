"""The lectures' optimizers: each against its NumPy float64 transcription over 60 jitted steps
on a nested pytree (float32 and float64), and each converging to the known minimum of a
quadratic and of the 2-D Rosenbrock function.

Tolerances. Reference runs: float32 rtol 2e-5 (atol 1e-6 times the learning rate), float64
rtol 1e-10. Quadratic `sum(a/2 (x - c)^2)` (curvatures a in [0.5, 4]) from x = 0: every entry
within 1e-3 of c (AdamW: its decay moves the minimum by about weight_decay * |c| / a, 2e-4 at
most here). Rosenbrock `(1 - x)^2 + 100 (y - x^2)^2` from (-1.2, 1): the distance to (1, 1)
below the tolerance listed per optimizer, each several times the distance measured (between
1e-6 and 3e-3) so that a change of rounding cannot flip the result, and each far below the
0.2 reached by a run that stalls in the valley.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference as ref
from optim_helpers import flat, leaf_shapes, minimize, run_sequences, sequence

import optim

MASK = {"w": True, "b": False, "deep": [False, (False, True)]}
MASK_ROW = np.concatenate(
    [np.full(int(np.prod(s)), m) for s, m in zip(leaf_shapes(), jax.tree.leaves(MASK), strict=True)]
)


def momentum_schedule(t):
    return jnp.minimum(0.5 + 0.04 * t, 0.9)


def lr_schedule(t):
    return 1e-2 * 0.95**t


# name: (optimizer factory, reference(grads, params))
CASES = {
    "sgd": (lambda: optim.sgd(), lambda g, p: ref.sgd(g)),
    "sgd_momentum": (lambda: optim.sgd(0.1, 0.9), lambda g, p: ref.sgd(g, 0.1, 0.9)),
    "sgd_nesterov": (
        lambda: optim.sgd(0.1, 0.9, nesterov=True),
        lambda g, p: ref.sgd(g, 0.1, 0.9, nesterov=True),
    ),
    "sgd_schedules": (
        lambda: optim.sgd(lr_schedule, momentum_schedule),
        lambda g, p: ref.sgd(g, lr_schedule, lambda t: min(0.5 + 0.04 * t, 0.9)),
    ),
    "adagrad": (lambda: optim.adagrad(), lambda g, p: ref.adagrad(g)),
    "adagrad_zero_start": (
        lambda: optim.adagrad(0.5, 0.0, 1e-5),
        lambda g, p: ref.adagrad(g, 0.5, 0.0, 1e-5),
    ),
    "rmsprop": (lambda: optim.rmsprop(), lambda g, p: ref.rmsprop(g)),
    "rmsprop_centered_momentum": (
        lambda: optim.rmsprop(0.01, 0.9, 1e-8, 0.1, centered=True, momentum=0.9),
        lambda g, p: ref.rmsprop(g, 0.01, 0.9, 1e-8, 0.1, centered=True, momentum=0.9),
    ),
    "rmsprop_eps_outside_nesterov": (
        lambda: optim.rmsprop(
            0.01, eps=1e-4, eps_in_sqrt=False, bias_correction=True, momentum=0.5, nesterov=True
        ),
        lambda g, p: ref.rmsprop(
            g, 0.01, eps=1e-4, eps_in_sqrt=False, bias_correction=True, momentum=0.5, nesterov=True
        ),
    ),
    "adadelta": (lambda: optim.adadelta(), lambda g, p: ref.adadelta(g, p)),
    "adadelta_weight_decay": (
        lambda: optim.adadelta(0.5, 0.95, 1e-4, weight_decay=0.1),
        lambda g, p: ref.adadelta(g, p, 0.5, 0.95, 1e-4, weight_decay=0.1),
    ),
    "adam": (lambda: optim.adam(), lambda g, p: ref.adam(g)),
    "adam_nesterov_eps_root": (
        lambda: optim.adam(1e-2, 0.8, 0.99, 1e-6, 1e-4, nesterov=True),
        lambda g, p: ref.adam(g, 1e-2, 0.8, 0.99, 1e-6, 1e-4, nesterov=True),
    ),
    "adam_lr_schedule": (
        lambda: optim.adam(lr_schedule),
        lambda g, p: ref.adam(g, lr_schedule),
    ),
    "adamw": (lambda: optim.adamw(), lambda g, p: ref.adamw(g, p)),
    "adamw_mask": (
        lambda: optim.adamw(1e-2, weight_decay=0.1, mask=MASK),
        lambda g, p: ref.adamw(g, p, 1e-2, weight_decay=0.1, mask=MASK_ROW),
    ),
    "rprop": (lambda: optim.rprop(), lambda g, p: ref.rprop(g)),
    "rprop_bounded": (
        lambda: optim.rprop(0.1, 0.3, 2.0, 0.02, 0.5),
        lambda g, p: ref.rprop(g, 0.1, 0.3, 2.0, 0.02, 0.5),
    ),
    "adaptive_gains": (lambda: optim.adaptive_gains(), lambda g, p: ref.adaptive_gains(g)),
    "adaptive_gains_momentum": (
        lambda: optim.adaptive_gains(0.1, 0.2, 0.6, 0.5, 2.0, momentum=0.9),
        lambda g, p: ref.adaptive_gains(g, 0.1, 0.2, 0.6, 0.5, 2.0, momentum=0.9),
    ),
}


def run_cases(dtype_name):
    """Every case over 60 steps in one compiled program: the gradients, the float64 gradients and
    params flattened for the references, and the updates by name."""
    dtype = jnp.dtype(dtype_name)
    grads_np, grads = sequence(60, seed=21, dtype=dtype, zeros=0.1)
    params_np, params = sequence(60, seed=22, dtype=dtype)
    runs = run_sequences({n: make() for n, (make, _) in CASES.items()}, grads, params)
    return grads, flat(grads_np), flat(params_np), runs


@pytest.fixture(scope="module")
def cases_run():
    """`run_cases` of a dtype's name, computed the first time a test asks for it (float64 under
    the test's x64 fixture) and kept for the module."""
    return functools.cache(run_cases)


def compare(cases_run, name, dtype, rtol, atol):
    grads, grads_np, params_np, runs = cases_run(jnp.dtype(dtype).name)
    for got, want in zip(jax.tree.leaves(runs[name]), jax.tree.leaves(grads), strict=True):
        assert got.shape == want.shape and got.dtype == want.dtype
    expected = CASES[name][1](grads_np, params_np)
    scale = np.max(np.abs(expected))
    assert scale > 0
    np.testing.assert_allclose(flat(runs[name]), expected, rtol=rtol, atol=atol * scale)


@pytest.mark.parametrize("name", CASES)
def test_float32_against_reference(name, cases_run):
    compare(cases_run, name, jnp.float32, rtol=2e-5, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("name", CASES)
def test_float64_against_reference(name, x64, cases_run):
    compare(cases_run, name, jnp.float64, rtol=1e-10, atol=1e-13)


# -- convergence ---------------------------------------------------------------------------------

RNG = np.random.default_rng(0)
CURVATURE = jax.tree.map(
    lambda s: jnp.asarray(RNG.uniform(0.5, 4.0, s), jnp.float32),
    {"w": (3, 2), "b": [(4,), ()]},
    is_leaf=lambda x: isinstance(x, tuple) and all(isinstance(i, int) for i in x),
)
CENTER = jax.tree.map(lambda a: jnp.asarray(RNG.normal(size=a.shape), jnp.float32), CURVATURE)


def quadratic(params):
    terms = jax.tree.map(lambda p, a, c: jnp.sum(0.5 * a * (p - c) ** 2), params, CURVATURE, CENTER)
    return sum(jax.tree.leaves(terms))


def rosenbrock(params):
    x, y = params["x"], params["y"]
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


# name: (optimizer with its defaults except a learning rate where needed, steps)
QUADRATIC = {
    "sgd": (optim.sgd(), 3000),
    "sgd_momentum": (optim.sgd(momentum=0.9), 500),
    "sgd_nesterov": (optim.sgd(momentum=0.9, nesterov=True), 500),
    "adagrad": (optim.adagrad(0.5), 500),  # 0.01 needs ~1e5 steps: its steps shrink as 1/sqrt(t)
    "rmsprop": (optim.rmsprop(), 5000),
    "adadelta": (optim.adadelta(), 2000),  # the default learning rate 1.0 descends
    "adam": (optim.adam(), 10000),
    "adamw": (optim.adamw(), 10000),
    "rprop": (optim.rprop(), 500),
    "adaptive_gains": (optim.adaptive_gains(), 500),
    "adaptive_gains_momentum": (optim.adaptive_gains(momentum=0.9), 500),
}

# name: (optimizer, steps, tolerance on the distance to (1, 1), the distance measured)
ROSENBROCK = {
    # 0.01 diverges: 2 / lambda_max is 2e-3 at the minimum (lambda_max = 1001.6).
    "sgd": (optim.sgd(1e-3), 20000, 2e-3),  # 3e-4
    "sgd_momentum": (optim.sgd(1e-3, momentum=0.9), 5000, 1e-3),  # 1e-6
    "sgd_nesterov": (optim.sgd(1e-3, momentum=0.9, nesterov=True), 5000, 1e-3),  # 3e-6
    "adagrad": (optim.adagrad(1.0), 20000, 1e-3),  # 3e-5
    "rmsprop": (optim.rmsprop(), 10000, 3e-3),  # 7e-4: oscillates with an amplitude ~ lr
    # AdaDelta's default 1.0 descends (24.2 -> 0.48 in 1000 steps) but then drifts along the
    # valley, optax's too; a smaller rate gets close and stays within 4e-3 from 15k to 30k steps.
    "adadelta": (optim.adadelta(0.02), 15000, 1e-2),  # 2e-3
    "adam": (optim.adam(1e-2), 5000, 1e-3),  # 5e-5
    "adamw": (optim.adamw(1e-2), 5000, 2e-3),  # 3e-4
    "rprop": (optim.rprop(), 5000, 2e-3),  # 3e-4
    "adaptive_gains": (optim.adaptive_gains(1e-4), 20000, 1e-3),  # 2e-5
}


def final_params(table, loss, start):
    """Every optimizer of the table minimized in one compiled program."""
    return jax.jit(
        lambda p: {name: minimize(entry[0], loss, p, entry[1]) for name, entry in table.items()}
    )(start)


@pytest.fixture(scope="module")
def quadratic_finals():
    """The final params of every optimizer of QUADRATIC, from 0, computed once for the module."""
    return final_params(QUADRATIC, quadratic, jax.tree.map(jnp.zeros_like, CENTER))


@pytest.fixture(scope="module")
def rosenbrock_finals():
    """The final params of every optimizer of ROSENBROCK, from (-1.2, 1), once for the module."""
    return final_params(ROSENBROCK, rosenbrock, {"x": jnp.asarray(-1.2), "y": jnp.asarray(1.0)})


def test_every_alias_is_tested_for_convergence():
    aliases = {"sgd", "adagrad", "rmsprop", "adadelta", "adam", "adamw", "rprop", "adaptive_gains"}
    assert aliases <= set(QUADRATIC) and aliases <= set(ROSENBROCK)


@pytest.mark.parametrize("name", QUADRATIC)
def test_converges_on_a_quadratic(name, quadratic_finals):
    start = jax.tree.map(jnp.zeros_like, CENTER)
    found = quadratic_finals[name]
    assert float(quadratic(start)) > 1.0
    error = max(float(jnp.max(jnp.abs(p - c))) for p, c in zip(jax.tree.leaves(found), jax.tree.leaves(CENTER), strict=True))
    assert error < 1e-3, f"{name}: max |x - x*| = {error:.2e}"


@pytest.mark.parametrize("name", ROSENBROCK)
def test_converges_on_rosenbrock(name, rosenbrock_finals):
    found = rosenbrock_finals[name]
    distance = float(jnp.hypot(found["x"] - 1.0, found["y"] - 1.0))
    assert distance < ROSENBROCK[name][2], f"{name}: distance to (1, 1) = {distance:.2e}"
    assert float(rosenbrock(found)) < 1e-3


def test_adadelta_default_learning_rate_descends_rosenbrock():
    start = {"x": jnp.asarray(-1.2), "y": jnp.asarray(1.0)}
    found = minimize(optim.adadelta(), rosenbrock, start, 1000)
    assert float(rosenbrock(found)) < 0.05 * float(rosenbrock(start))


def test_minimize_helper_reports_what_it_runs():
    # The convergence tests would pass vacuously if the loop did not run: one step of sgd(0.1)
    # on a quadratic is a known point.
    found = minimize(optim.sgd(0.1), lambda p: 0.5 * jnp.sum(p**2), jnp.ones(3), 1)
    np.testing.assert_allclose(found, 0.9 * np.ones(3), rtol=1e-6)
