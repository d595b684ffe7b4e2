"""The modern optimizers against optax where optax follows the same convention: the same
updates over 30 jitted steps on nested pytrees (rtol 2e-4, atol 2e-6)."""

import numpy as np
import optax
import optax.contrib
import pytest
from optim_helpers import adafactor_tree, example_tree, flat, params_sequence, run_sequence

import optim

STEPS = 30


OPTAX_SAME = {
    "nadam": (
        lambda: optim.nadam(0.01, momentum_decay=None),
        lambda: optax.nadam(0.01),
    ),
    "amsgrad": (lambda: optim.amsgrad(0.01, b2=0.95), lambda: optax.amsgrad(0.01, b2=0.95)),
    "adamax": (lambda: optim.adamax(0.01), lambda: optax.adamax(0.01)),
    "radam": (lambda: optim.radam(0.01, b2=0.99), lambda: optax.radam(0.01, b2=0.99)),
    "adabelief": (lambda: optim.adabelief(0.01), lambda: optax.adabelief(0.01)),
    "lion": (
        lambda: optim.lion(0.01, weight_decay=0.1),
        lambda: optax.lion(0.01, weight_decay=0.1),
    ),
    "lamb": (
        lambda: optim.lamb(0.01, weight_decay=0.1),
        lambda: optax.lamb(0.01, weight_decay=0.1),
    ),
    "lars_without_decay": (
        lambda: optim.lars(0.1, trust_coefficient=0.02, momentum=0.8),
        lambda: optax.lars(0.1, trust_coefficient=0.02, momentum=0.8),
    ),
    "adafactor": (
        lambda: optim.adafactor(0.05, min_dim_size_to_factor=2, momentum=0.9),
        lambda: optax.adafactor(0.05, min_dim_size_to_factor=2, momentum=0.9),
    ),
    "adafactor_decay": (
        lambda: optim.adafactor(0.05, min_dim_size_to_factor=3, weight_decay_rate=0.1),
        lambda: optax.adafactor(0.05, min_dim_size_to_factor=3, weight_decay_rate=0.1),
    ),
    "noisy_sgd": (
        lambda: optim.noisy_sgd(0.1, eta=0.3, key=7),
        lambda: optax.noisy_sgd(0.1, eta=0.3, key=7),
    ),
    "schedule_free_sgd": (
        lambda: optim.schedule_free_sgd(0.1, b1=0.8, weight_decay=0.01),
        lambda: optax.contrib.schedule_free_sgd(0.1, b1=0.8, weight_decay=0.01),
    ),
    "sam": (
        lambda: optim.sam(optim.adam(0.01), rho=0.1),
        lambda: optax.contrib.sam(
            optax.adam(0.01), optax.chain(optax.contrib.normalize(), optax.sgd(0.1))
        ),
    ),
}


# The largest programs (two Adafactors, noise, SAM, LAMB) are slow, and so are the elementwise
# rules compared with NumPy in test_adam_family.py (adamax, radam, adabelief).
SLOW = {"adafactor", "adafactor_decay", "noisy_sgd", "sam", "lamb", "adamax", "radam", "adabelief"}


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in OPTAX_SAME]
)
def test_matches_optax(name):
    ours, theirs = OPTAX_SAME[name]
    tree = adafactor_tree if name.startswith("adafactor") else example_tree
    _, g = params_sequence(STEPS, 8, tree=tree)
    _, p = params_sequence(STEPS, seed=9, tree=tree)
    expected, _ = run_sequence(theirs(), g, p)
    updates, _ = run_sequence(ours(), g, p)
    np.testing.assert_allclose(flat(updates), flat(expected), rtol=2e-4, atol=2e-6)
