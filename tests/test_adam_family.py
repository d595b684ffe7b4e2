"""The modern elementwise rules (optim/transforms/adam_variance.py, sign_based.py; optim/aliases/
adam.py, sign_based.py): NAdam, AMSGrad, AdaMax, RAdam, AdaBelief and Lion against their NumPy
transcriptions (tests/reference/adam_family.py) over many jitted steps on nested pytrees, in
float32 and float64; RAdam's threshold, NAdam's momentum schedule and AMSGrad's denominator."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference as ref
from closed_loop import X0, minimize_quadratic, quadratic_gap
from optim_helpers import flat, params_sequence, run_sequence, sequence

import optim

STEPS = 30


ELEMENTWISE = {
    "nadam": (lambda: optim.nadam(0.01), lambda g, p: ref.nadam(g, 0.01)),
    "nadam_constant": (
        lambda: optim.nadam(0.01, b1=0.8, momentum_decay=None),
        lambda g, p: ref.nadam(g, 0.01, b1=0.8, momentum_decay=None),
    ),
    "nadam_fast_schedule": (
        lambda: optim.nadam(0.01, b2=0.99, momentum_decay=0.1),
        lambda g, p: ref.nadam(g, 0.01, b2=0.99, momentum_decay=0.1),
    ),
    "amsgrad": (lambda: optim.amsgrad(0.01, b2=0.9), lambda g, p: ref.amsgrad(g, 0.01, b2=0.9)),
    "amsgrad_pytorch": (
        lambda: optim.amsgrad(0.01, b2=0.9, debias_before_max=False),
        lambda g, p: ref.amsgrad(g, 0.01, b2=0.9, debias_before_max=False),
    ),
    "adamax": (lambda: optim.adamax(0.01, b2=0.95), lambda g, p: ref.adamax(g, 0.01, b2=0.95)),
    "radam": (lambda: optim.radam(0.01), lambda g, p: ref.radam(g, 0.01)),
    "radam_b2_0.9": (
        lambda: optim.radam(0.01, b2=0.9, threshold=6.0),
        lambda g, p: ref.radam(g, 0.01, b2=0.9, threshold=6.0),
    ),
    "adabelief": (lambda: optim.adabelief(0.01), lambda g, p: ref.adabelief(g, 0.01)),
    "lion": (
        lambda: optim.lion(0.01, b1=0.8, weight_decay=0.1),
        lambda g, p: ref.lion(g, p, 0.01, b1=0.8, weight_decay=0.1),
    ),
}


# The variants of a rule (other conventions and hyperparameters) are slow; each rule is quick.
VARIANTS = {"nadam_constant", "nadam_fast_schedule", "amsgrad_pytorch", "radam_b2_0.9"}


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in VARIANTS else n for n in ELEMENTWISE]
)
def test_elementwise_rules_match_numpy_float32(name):
    make, reference = ELEMENTWISE[name]
    g64, g = sequence(STEPS, seed=1, zeros=0.1)
    p64, p = params_sequence(STEPS, seed=2)
    updates, _ = run_sequence(make(), g, p)
    expected = reference(flat(g64), flat(p64))
    np.testing.assert_allclose(flat(updates), expected, rtol=2e-4, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["nadam", "amsgrad_pytorch", "radam", "adabelief", "lion"])
def test_elementwise_rules_match_numpy_float64(name, x64):
    make, reference = ELEMENTWISE[name]
    g64, g = sequence(STEPS, seed=3, dtype=jnp.float64)
    p64, p = params_sequence(STEPS, seed=4, dtype=jnp.float64)
    updates, _ = run_sequence(make(), g, p)
    assert jax.tree.leaves(updates)[0].dtype == jnp.float64
    # Scalar coefficients (bias corrections, schedules) are float32, as in optim.tree.
    np.testing.assert_allclose(flat(updates), reference(flat(g64), flat(p64)), rtol=1e-6)


def test_radam_switches_to_the_rectified_step_at_the_threshold():
    g64, g = sequence(8, seed=5)
    updates, _ = run_sequence(optim.scale_by_radam(), g)
    out, grads = flat(updates), flat(g64)
    # b2 = 0.999: rho_t < 5 for t <= 5, so the first five steps are the debiased momentum.
    rho = [2 / 0.001 - 1 - 2 * t * 0.999**t / (1 - 0.999**t) for t in range(1, 9)]
    assert max(rho[:5]) < 5 <= rho[5]
    momentum = ref.ema(grads, 0.9)
    np.testing.assert_allclose(out[:5], momentum[:5], rtol=1e-5)
    assert not np.allclose(out[5], momentum[5], rtol=0.1)


def test_nadam_schedule_differs_from_constant_momentum_early_and_both_descend():
    g64, g = sequence(5, seed=6)
    scheduled = ref.scale_by_nadam(flat(g64))
    constant = ref.scale_by_nadam(flat(g64), momentum_decay=None)
    assert np.abs(scheduled - constant).max() > 0.1
    for momentum_decay in (0.004, None):
        tx = optim.nadam(0.05, momentum_decay=momentum_decay)
        final = minimize_quadratic(tx, 150)
        assert final < 1e-2 * quadratic_gap(X0)


def test_amsgrad_denominator_never_shrinks():
    # Large gradients then small ones: Adam's denominator shrinks, AMSGrad's (optax's convention,
    # the max over the debiased v) stays; PyTorch's convention only after the correction ends.
    grads = np.concatenate([np.full((5, 1), 10.0), np.full((20, 1), 0.1)])
    steps = np.abs(ref.scale_by_amsgrad(grads, b2=0.9))
    m_hat = np.abs(ref.ema(grads, 0.9))
    denominators = m_hat / steps
    assert np.all(np.diff(denominators[:, 0]) >= -1e-9)
    updates, _ = run_sequence(optim.scale_by_amsgrad(b2=0.9), jnp.asarray(grads, jnp.float32))
    np.testing.assert_allclose(np.asarray(updates), ref.scale_by_amsgrad(grads, b2=0.9), rtol=1e-5)
