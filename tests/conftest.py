"""A strict test environment: warnings are errors (pyproject), rank promotion raises, keys
come from a fixture, and float64 tests run inside `jax.enable_x64`."""

import jax
import pytest

jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture
def key():
    """A fixed PRNG key; tests that need several split it."""
    return jax.random.key(0)


@pytest.fixture
def x64():
    """Run the test with 64-bit floats enabled."""
    with jax.enable_x64(True):
        yield
