"""Weight initializers: pure functions `(key, shape, dtype) -> array`.

The lectures' rule: weights random (to break the symmetry between units), biases zero; the
variance of the weights tuned to the layer's fan-in and fan-out so that activations and
gradients keep their scale from layer to layer.

| initializer      | distribution                           | variance                  |
| ---------------- | -------------------------------------- | ------------------------- |
| `standard_normal`| N(0, 1)                                | 1                         |
| `normal(stddev)` | N(0, stddev^2)                         | stddev^2                  |
| `glorot_uniform` | U(-a, a), a = sqrt(6 / (fan_in + fan_out)) | 2 / (fan_in + fan_out) |
| `glorot_normal`  | N(0, 2 / (fan_in + fan_out))           | 2 / (fan_in + fan_out)    |
| `he_uniform`     | U(-a, a), a = sqrt(6 / fan_in)         | 2 / fan_in                |
| `he_normal`      | N(0, 2 / fan_in)                       | 2 / fan_in                |
| `lecun_normal`   | N(0, 1 / fan_in)                       | 1 / fan_in                |
| `zeros`          | 0                                      | 0                         |

Glorot and Bengio (2010) for tanh/sigmoid units, He et al. (2015) for ReLU units, LeCun et al.
(1998). The normal variants are plain (untruncated) normals, as in the papers; jax's and
flax's defaults truncate at two standard deviations and rescale, which gives the same variance.

Fans follow the layout `y = x @ w` of `nets.mlp`: a weight of shape `(fan_in, fan_out)`. For
more dimensions the leading ones are a receptive field that multiplies both fans (a
convolution kernel `(..., in, out)`); a vector has `fan_in = fan_out = len`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
from jax.typing import DTypeLike

Initializer = Callable[[jax.Array, Sequence[int], DTypeLike], jax.Array]
"""A pure function `(key, shape, dtype) -> array`."""


def fans(shape: Sequence[int]) -> tuple[int, int]:
    """`(fan_in, fan_out)` of a weight of `shape` laid out as `(..., fan_in, fan_out)`."""
    shape = tuple(int(d) for d in shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def _check_float(dtype: DTypeLike, name: str) -> None:
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"{name} draws floating-point weights; got dtype {jnp.dtype(dtype)}")


def _normal(key: jax.Array, shape: Sequence[int], dtype: DTypeLike, variance: float) -> jax.Array:
    # Sampled in at least float32, then rounded once: bfloat16 sampling is coarse in the tails.
    sample_dtype = jnp.promote_types(dtype, jnp.float32)
    draw = jax.random.normal(key, tuple(shape), sample_dtype)
    return (math.sqrt(variance) * draw).astype(dtype)


def _uniform(key: jax.Array, shape: Sequence[int], dtype: DTypeLike, limit: float) -> jax.Array:
    sample_dtype = jnp.promote_types(dtype, jnp.float32)
    draw = jax.random.uniform(key, tuple(shape), sample_dtype, -limit, limit)
    return draw.astype(dtype)


def standard_normal(
    key: jax.Array, shape: Sequence[int], dtype: DTypeLike = jnp.float32
) -> jax.Array:
    """N(0, 1) entries: the lecture's plain "standard normal" weights (variance 1)."""
    _check_float(dtype, "standard_normal")
    return _normal(key, shape, dtype, 1.0)


def normal(stddev: float = 1.0) -> Initializer:
    """An initializer drawing N(0, stddev^2) entries (the lectures' "small variance" weights)."""
    if not stddev >= 0:
        raise ValueError(f"stddev must be in [0, inf), got {stddev!r}")

    def init(key: jax.Array, shape: Sequence[int], dtype: DTypeLike = jnp.float32) -> jax.Array:
        _check_float(dtype, "normal")
        return _normal(key, shape, dtype, float(stddev) ** 2)

    return init


def glorot_uniform(
    key: jax.Array, shape: Sequence[int], dtype: DTypeLike = jnp.float32
) -> jax.Array:
    """U(-a, a) with a = sqrt(6 / (fan_in + fan_out)): variance 2 / (fan_in + fan_out)."""
    _check_float(dtype, "glorot_uniform")
    fan_in, fan_out = fans(shape)
    return _uniform(key, shape, dtype, math.sqrt(6.0 / (fan_in + fan_out)))


def glorot_normal(
    key: jax.Array, shape: Sequence[int], dtype: DTypeLike = jnp.float32
) -> jax.Array:
    """N(0, 2 / (fan_in + fan_out)) (Glorot and Bengio, 2010)."""
    _check_float(dtype, "glorot_normal")
    fan_in, fan_out = fans(shape)
    return _normal(key, shape, dtype, 2.0 / (fan_in + fan_out))


def he_uniform(key: jax.Array, shape: Sequence[int], dtype: DTypeLike = jnp.float32) -> jax.Array:
    """U(-a, a) with a = sqrt(6 / fan_in): variance 2 / fan_in."""
    _check_float(dtype, "he_uniform")
    fan_in, _ = fans(shape)
    return _uniform(key, shape, dtype, math.sqrt(6.0 / fan_in))


def he_normal(key: jax.Array, shape: Sequence[int], dtype: DTypeLike = jnp.float32) -> jax.Array:
    """N(0, 2 / fan_in) (He et al., 2015), for ReLU units."""
    _check_float(dtype, "he_normal")
    fan_in, _ = fans(shape)
    return _normal(key, shape, dtype, 2.0 / fan_in)


def lecun_normal(
    key: jax.Array, shape: Sequence[int], dtype: DTypeLike = jnp.float32
) -> jax.Array:
    """N(0, 1 / fan_in) (LeCun et al., 1998)."""
    _check_float(dtype, "lecun_normal")
    fan_in, _ = fans(shape)
    return _normal(key, shape, dtype, 1.0 / fan_in)


def zeros(key: jax.Array, shape: Sequence[int], dtype: DTypeLike = jnp.float32) -> jax.Array:
    """All zeros (the key is ignored): the lectures' bias initialization."""
    del key
    return jnp.zeros(tuple(shape), dtype)
