"""Initializers: the variance each formula promises, the distribution's shape, dtypes, errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import nets
from nets import init

SHAPE = (300, 200)  # fan_in 300, fan_out 200: 60,000 draws per test
FAN_IN, FAN_OUT = SHAPE

# name -> (initializer, variance from the formula, distribution)
CASES = {
    "standard_normal": (init.standard_normal, 1.0, "normal"),
    "normal(0.05)": (init.normal(0.05), 0.05**2, "normal"),
    "glorot_uniform": (init.glorot_uniform, 2.0 / (FAN_IN + FAN_OUT), "uniform"),
    "glorot_normal": (init.glorot_normal, 2.0 / (FAN_IN + FAN_OUT), "normal"),
    "he_uniform": (init.he_uniform, 2.0 / FAN_IN, "uniform"),
    "he_normal": (init.he_normal, 2.0 / FAN_IN, "normal"),
    "lecun_normal": (init.lecun_normal, 1.0 / FAN_IN, "normal"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_variance_mean_and_distribution_match_the_formula(name, key):
    initializer, variance, kind = CASES[name]
    w = np.asarray(initializer(key, SHAPE, jnp.float32), np.float64)
    assert w.shape == SHAPE
    # Relative standard error of a sample variance over 60k draws is below 0.6%; 3% is 5 sigma.
    assert w.var() == pytest.approx(variance, rel=0.03)
    assert abs(w.mean()) < 5 * np.sqrt(variance / w.size)
    scale = np.sqrt(variance)
    if kind == "uniform":
        limit = np.sqrt(3 * variance)  # U(-a, a) has variance a^2 / 3
        assert np.abs(w).max() <= limit * (1 + 1e-6)
        assert np.abs(w).max() > 0.99 * limit
        reference = stats.uniform(loc=-limit, scale=2 * limit)
    else:
        reference = stats.norm(scale=scale)
    # Kolmogorov-Smirnov distance: uniform and normal of the same variance differ by ~0.06.
    assert stats.kstest(w.ravel()[:20000], reference.cdf).statistic < 0.015


def test_uniform_and_normal_variants_differ_in_shape_not_variance(key):
    uniform = np.asarray(init.glorot_uniform(key, SHAPE)).ravel()
    normal = np.asarray(init.glorot_normal(key, SHAPE)).ravel()
    assert uniform.var() == pytest.approx(normal.var(), rel=0.05)
    assert stats.kurtosis(uniform) == pytest.approx(-1.2, abs=0.05)  # flat
    assert stats.kurtosis(normal) == pytest.approx(0.0, abs=0.1)


@pytest.mark.parametrize(
    "shape, expected",
    [((5,), (5, 5)), ((3, 7), (3, 7)), ((3, 3, 4, 8), (36, 72)), ((), (1, 1))],
)
def test_fans(shape, expected):
    assert init.fans(shape) == expected


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16, jnp.float16])
@pytest.mark.parametrize("name", list(CASES))
def test_dtype_and_shape_kept(name, dtype, key):
    w = CASES[name][0](key, (4, 6), dtype)
    assert w.dtype == dtype and w.shape == (4, 6)
    assert bool(jnp.all(jnp.isfinite(w)))


def test_float64_under_x64(x64, key):
    w = init.he_normal(key, SHAPE, jnp.float64)
    assert w.dtype == jnp.float64
    assert float(jnp.var(w)) == pytest.approx(2.0 / FAN_IN, rel=0.03)


def test_bfloat16_keeps_the_variance(key):
    w = np.asarray(init.he_normal(key, SHAPE, jnp.bfloat16).astype(jnp.float32))
    assert w.var() == pytest.approx(2.0 / FAN_IN, rel=0.03)


def test_deterministic_per_key_and_different_across_keys(key):
    a = init.glorot_uniform(key, (8, 8))
    b = init.glorot_uniform(key, (8, 8))
    c = init.glorot_uniform(jax.random.split(key)[0], (8, 8))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_zeros(key):
    z = init.zeros(key, (3, 2), jnp.bfloat16)
    assert z.dtype == jnp.bfloat16 and not np.any(np.asarray(z, np.float32))


def test_jit_and_vmap_over_keys(key):
    draw = jax.jit(init.he_normal, static_argnums=(1, 2))
    np.testing.assert_allclose(draw(key, (5, 3), jnp.float32), init.he_normal(key, (5, 3)),
                               rtol=1e-6)
    many = jax.vmap(lambda k: init.lecun_normal(k, (5, 3)))(jax.random.split(key, 4))
    assert many.shape == (4, 5, 3)


def test_errors():
    with pytest.raises(ValueError, match="stddev must be in"):
        init.normal(-1.0)
    with pytest.raises(TypeError, match="floating-point"):
        init.he_normal(jax.random.key(0), (2, 2), jnp.int32)


def test_exported():
    for name in ["glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_normal",
                 "standard_normal", "normal", "zeros", "fans", "Initializer"]:
        assert name in nets.__all__ and getattr(nets, name) is getattr(init, name)
