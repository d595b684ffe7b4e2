"""The building blocks against their NumPy float64 transcriptions
(tests/reference/first_order.py), over 60 jitted steps of random gradients (a tenth of the
entries exactly 0) on a nested pytree, in float32, float64 and bfloat16; then hand-worked
sequences for the sign-based rules, and a momentum schedule through trace, sgd and
inject_hyperparams.

Tolerances: float32 against the float64 reference rtol 2e-5 (a few roundings per step, no
growth over 60 steps because each step's error is relative); float64 rtol 1e-10 (the same
formula, evaluated in a different order); bfloat16 params and gradients rtol 5e-2 over 20 steps
(8-bit mantissas: 4e-3 per rounding, a few roundings per step)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference as ref
from optim_helpers import example_tree, flat, leaf_shapes, run_sequence, run_sequences, sequence

import optim

MASK = {"w": True, "b": False, "deep": [False, (False, True)]}
MASK_ROW = np.concatenate(
    [np.full(int(np.prod(s)), m) for s, m in zip(leaf_shapes(), jax.tree.leaves(MASK), strict=True)]
)


def decay_schedule(t):
    return 0.1 * 0.9**t


def momentum_schedule(t):
    # The lecture's momentum raised from 0.5 to 0.9 as training settles.
    return jnp.minimum(0.5 + 0.04 * t, 0.9)


# name: (transform factory, reference(grads, params), uses params)
CASES = {
    "scale": (lambda: optim.scale(-0.3), lambda g, p: ref.scale(g, -0.3)),
    "learning_rate": (
        lambda: optim.scale_by_learning_rate(0.1),
        lambda g, p: ref.scale_by_learning_rate(g, 0.1),
    ),
    "learning_rate_no_flip": (
        lambda: optim.scale_by_learning_rate(0.1, flip_sign=False),
        lambda g, p: ref.scale_by_learning_rate(g, 0.1, flip_sign=False),
    ),
    "learning_rate_schedule": (
        lambda: optim.scale_by_learning_rate(lambda t: 0.1 / (1 + t)),
        lambda g, p: ref.scale_by_learning_rate(g, lambda t: 0.1 / (1 + t)),
    ),
    "schedule": (
        lambda: optim.scale_by_schedule(decay_schedule),
        lambda g, p: ref.scale_by_schedule(g, decay_schedule),
    ),
    "clip": (lambda: optim.clip(0.5), lambda g, p: ref.clip(g, 0.5)),
    "clip_by_global_norm": (
        lambda: optim.clip_by_global_norm(4.0),
        lambda g, p: ref.clip_by_global_norm(g, 4.0),
    ),
    "trace": (lambda: optim.trace(0.9), lambda g, p: ref.trace(g, 0.9)),
    "trace_nesterov": (
        lambda: optim.trace(0.9, nesterov=True),
        lambda g, p: ref.trace(g, 0.9, nesterov=True),
    ),
    "trace_momentum_schedule": (
        lambda: optim.trace(momentum_schedule),
        lambda g, p: ref.trace(g, lambda t: min(0.5 + 0.04 * t, 0.9)),
    ),
    "ema": (lambda: optim.ema(0.8), lambda g, p: ref.ema(g, 0.8)),
    "ema_no_debias": (
        lambda: optim.ema(0.8, debias=False),
        lambda g, p: ref.ema(g, 0.8, debias=False),
    ),
    "rss": (lambda: optim.scale_by_rss(), lambda g, p: ref.scale_by_rss(g)),
    "rss_zero_start": (
        lambda: optim.scale_by_rss(0.0, 1e-6),
        lambda g, p: ref.scale_by_rss(g, 0.0, 1e-6),
    ),
    "rms": (lambda: optim.scale_by_rms(), lambda g, p: ref.scale_by_rms(g)),
    "rms_centered": (
        lambda: optim.scale_by_rms(0.9, 1e-8, 0.1, centered=True),
        lambda g, p: ref.scale_by_rms(g, 0.9, 1e-8, 0.1, centered=True),
    ),
    "rms_eps_outside": (
        lambda: optim.scale_by_rms(0.95, 1e-3, eps_in_sqrt=False),
        lambda g, p: ref.scale_by_rms(g, 0.95, 1e-3, eps_in_sqrt=False),
    ),
    "rms_bias_correction": (
        lambda: optim.scale_by_rms(0.9, 1e-8, bias_correction=True),
        lambda g, p: ref.scale_by_rms(g, 0.9, 1e-8, bias_correction=True),
    ),
    # Debiased and centered, v = 0 exactly at step 1: eps large enough to avoid 0/0 noise.
    "rms_centered_debiased": (
        lambda: optim.scale_by_rms(0.9, 0.1, centered=True, bias_correction=True),
        lambda g, p: ref.scale_by_rms(g, 0.9, 0.1, centered=True, bias_correction=True),
    ),
    "adadelta": (lambda: optim.scale_by_adadelta(), lambda g, p: ref.scale_by_adadelta(g)),
    "adadelta_zeiler": (
        lambda: optim.scale_by_adadelta(0.95, 1e-4),
        lambda g, p: ref.scale_by_adadelta(g, 0.95, 1e-4),
    ),
    "adam": (lambda: optim.scale_by_adam(), lambda g, p: ref.scale_by_adam(g)),
    "adam_eps_root": (
        lambda: optim.scale_by_adam(0.8, 0.99, 1e-3, eps_root=1e-2),
        lambda g, p: ref.scale_by_adam(g, 0.8, 0.99, 1e-3, eps_root=1e-2),
    ),
    "adam_nesterov": (
        lambda: optim.scale_by_adam(nesterov=True),
        lambda g, p: ref.scale_by_adam(g, nesterov=True),
    ),
    "rprop": (lambda: optim.scale_by_rprop(), lambda g, p: ref.scale_by_rprop(g)),
    "rprop_bounded": (
        lambda: optim.scale_by_rprop(0.1, 0.3, 2.0, 0.02, 0.5),
        lambda g, p: ref.scale_by_rprop(g, 0.1, 0.3, 2.0, 0.02, 0.5),
    ),
    "adaptive_gains": (
        lambda: optim.scale_by_adaptive_gains(),
        lambda g, p: ref.scale_by_adaptive_gains(g),
    ),
    "adaptive_gains_clipped": (
        lambda: optim.scale_by_adaptive_gains(0.2, 0.6, 0.7, 1.5),
        lambda g, p: ref.scale_by_adaptive_gains(g, 0.2, 0.6, 0.7, 1.5),
    ),
    "decayed_weights": (
        lambda: optim.add_decayed_weights(0.1),
        lambda g, p: ref.add_decayed_weights(g, p, 0.1),
    ),
    "decayed_weights_schedule": (
        lambda: optim.add_decayed_weights(decay_schedule),
        lambda g, p: ref.add_decayed_weights(g, p, decay_schedule),
    ),
    "decayed_weights_mask": (
        lambda: optim.add_decayed_weights(0.1, MASK),
        lambda g, p: ref.add_decayed_weights(g, p, 0.1, MASK_ROW),
    ),
    "decayed_weights_mask_fn": (
        lambda: optim.add_decayed_weights(0.1, lambda p: jax.tree.map(lambda x: x.ndim > 1, p)),
        lambda g, p: ref.add_decayed_weights(g, p, 0.1, MASK_ROW),  # MASK is "matrices"
    ),
    "sign": (lambda: optim.sign(), lambda g, p: ref.sign(g)),
}


def run_cases(dtype_name, steps):
    """Every case over `steps` steps in one compiled program: the gradients, the float64
    gradients and params flattened for the references, and the updates by name."""
    dtype = jnp.dtype(dtype_name)
    grads_np, grads = sequence(steps, seed=11, dtype=dtype, zeros=0.1)
    params_np, params = sequence(steps, seed=12, dtype=dtype)
    runs = run_sequences({n: make() for n, (make, _) in CASES.items()}, grads, params)
    return grads, flat(grads_np), flat(params_np), runs


@pytest.fixture(scope="module")
def cases_run():
    """`run_cases` of a dtype's name and a number of steps, computed the first time a test asks
    for it (float64 under the test's x64 fixture) and kept for the module."""
    return functools.cache(run_cases)


def compare(cases_run, name, dtype, steps, rtol, atol):
    """Every case runs in one compiled program per dtype; each test checks its own."""
    grads, grads_np, params_np, runs = cases_run(jnp.dtype(dtype).name, steps)
    updates = runs[name]
    for got, want in zip(jax.tree.leaves(updates), jax.tree.leaves(grads), strict=True):
        assert got.shape == want.shape and got.dtype == want.dtype
    expected = CASES[name][1](grads_np, params_np)
    np.testing.assert_allclose(flat(updates), expected, rtol=rtol, atol=atol)


@pytest.mark.parametrize("name", CASES)
def test_float32_against_reference(name, cases_run):
    compare(cases_run, name, jnp.float32, 60, rtol=2e-5, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("name", CASES)
def test_float64_against_reference(name, x64, cases_run):
    compare(cases_run, name, jnp.float64, 60, rtol=1e-10, atol=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("name", CASES)
def test_bfloat16_against_reference(name, cases_run):
    compare(cases_run, name, jnp.bfloat16, 20, rtol=5e-2, atol=2e-2)


def test_the_random_sequences_exercise_every_branch():
    """The reference runs above must see clipped and unclipped rows, sign flips, agreements and
    zero products, or they would not test those branches."""
    grads = flat(sequence(60, seed=11, zeros=0.1)[0])
    norms = np.linalg.norm(grads, axis=1)
    assert (norms > 4.0).any() and (norms < 4.0).any()
    assert (np.abs(grads) > 0.5).any() and (np.abs(grads) < 0.5).any()
    products = grads[1:] * grads[:-1]
    assert (products > 0).sum() > 100 and (products < 0).sum() > 100 and (products == 0).sum() > 20


def test_masks_choose_the_matrices():
    assert MASK_ROW.sum() == 6 + 4  # "w" (3, 2) and the (2, 2) leaf


# -- Rprop, by hand ------------------------------------------------------------------------------

# Five coordinates over five steps; step sizes start at 0.01, x1.2 on agreement, x0.5 on a flip.
RPROP_GRADS = np.array(
    [
        [1.0, 1.0, 1.0, -1.0, 3.0],
        [2.0, -1.0, 0.0, -2.0, -1e-3],
        [1.0, 1.0, 1.0, -1.0, -5.0],
        [3.0, 2.0, -1.0, 1.0, -0.2],
        [1.0, -1.0, -1.0, 2.0, 7.0],
    ]
)
RPROP_UPDATES = np.array(
    [
        [0.01, 0.01, 0.01, -0.01, 0.01],
        [0.012, 0.0, 0.0, -0.012, 0.0],  # flips skip (c1, c4); a zero gradient moves nothing
        [0.0144, 0.005, 0.01, -0.0144, -0.005],  # after a flip: no comparison, shrunk step
        [0.01728, 0.006, 0.0, 0.0, -0.006],
        [0.020736, 0.0, -0.005, 0.0072, 0.0],
    ]
)
RPROP_FINAL_STEPS = np.array([0.020736, 0.003, 0.005, 0.0072, 0.003])


def run_rows(tx, rows, dtype=jnp.float32):
    grads = jnp.asarray(rows, dtype)
    updates, state = run_sequence(tx, grads)
    return np.asarray(updates, np.float64), state


def test_rprop_by_hand_coordinate_by_coordinate():
    updates, state = run_rows(optim.scale_by_rprop(), RPROP_GRADS)
    for t in range(len(RPROP_GRADS)):
        for i in range(RPROP_GRADS.shape[1]):
            assert updates[t, i] == pytest.approx(RPROP_UPDATES[t, i], rel=1e-6), (t, i)
    np.testing.assert_allclose(state.step_sizes, RPROP_FINAL_STEPS, rtol=1e-6)
    # The last gradient is remembered, except where it flipped (c1, c4), which is zeroed.
    np.testing.assert_array_equal(state.prev_grads, [1.0, 0.0, -1.0, 2.0, 0.0])
    assert int(state.count) == 5
    # No lag: every nonzero update has the sign of the same step's gradient.
    moved = updates != 0
    np.testing.assert_array_equal(np.sign(updates[moved]), np.sign(RPROP_GRADS[moved]))
    np.testing.assert_allclose(updates, ref.scale_by_rprop(RPROP_GRADS), rtol=1e-6)


def test_rprop_alias_descends_by_the_same_steps():
    updates, _ = run_rows(optim.rprop(), RPROP_GRADS)
    np.testing.assert_allclose(updates, -RPROP_UPDATES, rtol=1e-6)


def test_rprop_step_sizes_stay_in_bounds():
    tx = optim.scale_by_rprop(1.0, eta_minus=0.1, eta_plus=2.0, min_step_size=0.05, max_step_size=3.0)
    agree = np.ones((4, 1))
    updates, _ = run_rows(tx, agree)
    np.testing.assert_allclose(updates[:, 0], [1.0, 2.0, 3.0, 3.0])
    flips = np.array([[1.0], [-1.0], [1.0], [-1.0], [-1.0]])
    updates, state = run_rows(tx, flips)
    # 1 -> flip 0.1 (skip) -> no comparison 0.1 -> flip max(0.01, 0.05) (skip) -> 0.05
    np.testing.assert_allclose(updates[:, 0], [1.0, 0.0, 0.1, 0.0, -0.05], rtol=1e-6)
    np.testing.assert_allclose(state.step_sizes, [0.05], rtol=1e-6)


def test_rprop_sees_the_sign_of_tiny_gradients():
    # The product of two 1e-20 gradients underflows float32; the signs still agree.
    tiny = np.array([[1e-20, -1e-20], [1e-20, -1e-20], [-1e-20, 1e-20]])
    updates, state = run_rows(optim.scale_by_rprop(), tiny)
    np.testing.assert_allclose(updates, [[0.01, -0.01], [0.012, -0.012], [0.0, 0.0]], rtol=1e-6)
    np.testing.assert_allclose(state.step_sizes, [0.006, 0.006], rtol=1e-6)


# -- adaptive gains, by hand ---------------------------------------------------------------------


def test_adaptive_gains_by_hand():
    rows = np.array([[1.0, 1.0, 1.0, -2.0], [2.0, -1.0, 0.0, -1.0], [0.5, 3.0, 1.0, -4.0]])
    gains = np.array(
        [
            [1.0, 1.0, 1.0, 1.0],  # nothing to compare at the first step
            [1.05, 0.95, 1.0, 1.05],  # kept sign: +0.05; flip: x0.95; zero product: unchanged
            [1.10, 0.9025, 1.0, 1.10],  # gains compare with the raw previous gradient
        ]
    )
    updates, state = run_rows(optim.scale_by_adaptive_gains(), rows)
    np.testing.assert_allclose(updates, gains * rows, rtol=1e-6)
    np.testing.assert_allclose(state.gains, gains[-1], rtol=1e-6)
    np.testing.assert_array_equal(state.prev_grads, rows[-1])


def test_adaptive_gains_are_clipped():
    tx = optim.scale_by_adaptive_gains(increase=0.05, decrease=0.5, min_gain=0.3, max_gain=1.08)
    rows = np.array([[1.0, 1.0], [1.0, -1.0], [1.0, 1.0], [1.0, -1.0]])
    updates, state = run_rows(tx, rows)
    want_gains = np.array([[1.0, 1.0], [1.05, 0.5], [1.08, 0.3], [1.08, 0.3]])
    np.testing.assert_allclose(updates, want_gains * rows, rtol=1e-6)
    np.testing.assert_allclose(state.gains, [1.08, 0.3], rtol=1e-6)


def test_adaptive_gains_see_the_sign_of_tiny_gradients():
    tiny = np.array([[1e-20], [1e-20], [-1e-20]])
    _, state = run_rows(optim.scale_by_adaptive_gains(), tiny)
    np.testing.assert_allclose(state.gains, [1.05 * 0.95], rtol=1e-6)


# -- a few properties the random runs do not show ------------------------------------------------


def test_rss_with_zero_accumulator_and_zero_gradient_gives_zero_not_nan():
    updates, _ = run_rows(optim.scale_by_rss(0.0, 0.0), np.array([[0.0, 2.0], [0.0, -1.0]]))
    np.testing.assert_allclose(updates, [[0.0, 1.0], [0.0, -1 / np.sqrt(5.0)]], rtol=1e-6)


def test_adam_first_step_is_the_sign_of_the_gradient():
    updates, _ = run_rows(optim.scale_by_adam(eps=0.0), np.array([[3.0, -0.01, 250.0]]))
    np.testing.assert_allclose(updates, [[1.0, -1.0, 1.0]], rtol=1e-6)


def test_adam_mu_dtype():
    params = example_tree(lambda s: jnp.ones(s, jnp.float32))
    tx = optim.scale_by_adam(mu_dtype=jnp.bfloat16)
    grads_np, grads = sequence(50, seed=3)
    updates, state = run_sequence(tx, grads)
    assert {x.dtype for x in jax.tree.leaves(state.mu)} == {jnp.dtype(jnp.bfloat16)}
    assert {x.dtype for x in jax.tree.leaves(state.nu)} == {jnp.dtype(jnp.float32)}
    assert {x.dtype for x in jax.tree.leaves(updates)} == {jnp.dtype(jnp.float32)}
    assert jax.tree.structure(tx.init(params).mu) == jax.tree.structure(params)
    # The first moment is rounded to bfloat16 at every step: about 1e-2 relative.
    np.testing.assert_allclose(flat(updates), ref.scale_by_adam(flat(grads_np)), rtol=3e-2, atol=2e-2)


def test_ema_debiasing_makes_a_constant_sequence_exact():
    updates, _ = run_rows(optim.ema(0.9), np.full((10, 1), 2.5))
    np.testing.assert_allclose(updates[:, 0], 2.5, rtol=1e-6)
    raw, _ = run_rows(optim.ema(0.9, debias=False), np.full((10, 1), 2.5))
    np.testing.assert_allclose(raw[:, 0], 2.5 * (1 - 0.9 ** np.arange(1, 11)), rtol=1e-6)


def test_schedule_sees_the_step_count_from_zero():
    seen = optim.scale_by_schedule(lambda t: t.astype(jnp.float32))
    updates, state = run_rows(seen, np.ones((4, 1)))
    np.testing.assert_array_equal(updates[:, 0], [0.0, 1.0, 2.0, 3.0])
    assert int(state.count) == 4 and state.count.dtype == jnp.int32


def test_add_decayed_weights_needs_params():
    tx = optim.add_decayed_weights(0.1)
    params = example_tree(jnp.ones)
    with pytest.raises(ValueError, match="needs the params"):
        tx.update(params, tx.init(params))


def test_add_decayed_weights_mask_must_match_the_params():
    tx = optim.add_decayed_weights(0.1, {"w": True})
    params = example_tree(jnp.ones)
    with pytest.raises(ValueError, match="params and mask have different tree structures"):
        tx.update(params, tx.init(params), params)


def test_trace_accumulator_dtype():
    tx = optim.trace(0.9, accumulator_dtype=jnp.bfloat16)
    grads_np, grads = sequence(30, seed=4)
    updates, state = run_sequence(tx, grads)
    assert {x.dtype for x in jax.tree.leaves(state.trace)} == {jnp.dtype(jnp.bfloat16)}
    assert {x.dtype for x in jax.tree.leaves(updates)} == {jnp.dtype(jnp.float32)}
    np.testing.assert_allclose(flat(updates), ref.trace(flat(grads_np), 0.9), rtol=5e-2, atol=5e-2)


def test_centered_debiased_rms_is_finite_at_the_first_step():
    # nu^ - mu^2 is 0 at step 1 and rounds below it; the variance is clipped at 0, not NaN.
    grads = jnp.asarray(np.random.default_rng(0).normal(size=(2, 1000)), jnp.float32)
    updates, _ = run_sequence(optim.scale_by_rms(centered=True, bias_correction=True), grads)
    assert bool(jnp.all(jnp.isfinite(updates)))


# ----------------------------------------------------------------- momentum schedules


def rising_momentum(step):
    """The lecture's momentum: 0.5 at first, raised smoothly to 0.9 over 10 steps."""
    return 0.5 + 0.4 * jnp.minimum(jnp.asarray(step, jnp.float32) / 10.0, 1.0)


def test_momentum_schedule_through_trace_and_sgd():
    g64, g = sequence(25, seed=7)
    numpy_schedule = lambda t: 0.5 + 0.4 * min(t / 10.0, 1.0)
    for tx in (optim.sgd(0.1, momentum=rising_momentum), optim.chain(optim.trace(rising_momentum), optim.scale(-0.1))):
        updates, _ = run_sequence(tx, g)
        np.testing.assert_allclose(flat(updates), ref.sgd(flat(g64), 0.1, momentum=numpy_schedule), rtol=1e-5, atol=1e-7)
    # And through inject_hyperparams, which passes a momentum schedule through.
    tx = optim.inject_hyperparams(optim.sgd)(learning_rate=0.1, momentum=rising_momentum)
    updates, _ = run_sequence(tx, g)
    np.testing.assert_allclose(flat(updates), ref.sgd(flat(g64), 0.1, momentum=numpy_schedule), rtol=1e-5, atol=1e-7)
