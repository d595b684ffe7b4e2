"""A strict test environment: warnings are errors (pyproject), rank promotion raises, keys
come from a fixture, and float64 tests run inside `jax.enable_x64`.

`python -m pytest` runs everything; `python -m pytest -m "not slow"` is the quick subset, which
leaves out the tests marked slow: subprocesses, real training runs, the contract suite in
float64 and bfloat16 and op by op, and the heaviest compile-bound parametrizations (each
family keeps a case or more in float32)."""

import os
from pathlib import Path

import jax
import jax.numpy as jnp
import pytest

jax.config.update("jax_numpy_rank_promotion", "raise")

# Outside CI, compiled programs are kept in .jax_cache/ (jax's persistent compilation cache):
# the suite is compile-bound, and a second run of the quick subset takes about half the time.
# CI starts from a fresh clone, where the cache would only cost its writes.
if not os.environ.get("CI"):
    jax.config.update("jax_compilation_cache_dir",
                      str(Path(__file__).resolve().parent.parent / ".jax_cache"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


@pytest.fixture
def key():
    """A fixed PRNG key; tests that need several split it."""
    return jax.random.key(0)


@pytest.fixture
def x64():
    """Run the test with 64-bit floats enabled."""
    with jax.enable_x64(True):
        yield


DTYPES = {"float32": jnp.float32, "float64": jnp.float64, "bfloat16": jnp.bfloat16}


@pytest.fixture(params=[n if n == "float32" else pytest.param(n, marks=pytest.mark.slow) for n in DTYPES])
def dtype(request):
    """Each of the three params dtypes of the contract suite: float32, float64 (the test runs
    with 64-bit floats enabled) and bfloat16; the last two are slow (each a program of its own)."""
    if request.param == "float64":
        with jax.enable_x64(True):
            yield DTYPES[request.param]
    else:
        yield DTYPES[request.param]
