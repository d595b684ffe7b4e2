"""optax's diagonal Gaussian, parametrized by its mean and log standard deviation.

    dist = multi_normal(loc, log_scale)      N(loc, diag(exp(log_scale))^2)
    dist.sample(shape, key), dist.log_prob(x), dist.params, dist.log_scale

Evolution strategies and perturbation-based gradient estimators sample from it and
differentiate `log_prob` with respect to `params`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike


class MultiNormalDiagFromLogScale:
    """The Gaussian with independent coordinates of mean `loc` and standard deviation
    `exp(log_scale)` (broadcast together to the parameter shape), as optax's.

    `log_prob(x) = sum_i [-(x_i - loc_i)^2 / (2 s_i^2) - log s_i - log(2 pi) / 2]` summed over
    the parameter axes, so `x` of shape `batch + param_shape` gives one value per batch entry.
    """

    def __init__(self, loc: ArrayLike, log_scale: ArrayLike):
        self._mean = jnp.asarray(loc)
        self._log_scale = jnp.asarray(log_scale)
        try:
            self._param_shape = jnp.broadcast_shapes(self._mean.shape, self._log_scale.shape)
        except ValueError:
            raise ValueError(
                f"multi_normal needs loc and log_scale of broadcastable shapes, got "
                f"{self._mean.shape} and {self._log_scale.shape}"
            ) from None
        self._full_mean = jnp.broadcast_to(self._mean, self._param_shape)
        self._full_log_scale = jnp.broadcast_to(self._log_scale, self._param_shape)
        self._scale = jnp.exp(self._full_log_scale)

    def _batched(self, a: jax.Array, ndim: int) -> jax.Array:
        # Leading axes of length 1 for the batch: explicit, so strict rank promotion holds.
        return jnp.reshape(a, (1,) * (ndim - a.ndim) + a.shape)

    def sample(self, shape: Sequence[int], key: jax.Array) -> jax.Array:
        """`shape + param_shape` draws `loc + exp(log_scale) * N(0, 1)`."""
        noise = jax.random.normal(key, tuple(shape) + self._param_shape)
        return noise * self._batched(self._scale, noise.ndim) + self._batched(
            self._full_mean, noise.ndim
        )

    def log_prob(self, x: ArrayLike) -> jax.Array:
        """The log density at `x`, summed over the parameter axes."""
        x = jnp.asarray(x)
        ndim = max(x.ndim, len(self._param_shape))
        x = self._batched(x, ndim)
        mean, log_scale = (self._batched(a, ndim) for a in (self._full_mean, self._full_log_scale))
        z = (x - mean) / jnp.exp(log_scale)
        per_coordinate = -0.5 * z**2 - log_scale - 0.5 * math.log(2 * math.pi)
        axes = tuple(range(-len(self._param_shape), 0))
        return jnp.sum(per_coordinate, axis=axes)

    @property
    def log_scale(self) -> jax.Array:
        return self._log_scale

    @property
    def params(self) -> list[jax.Array]:
        """`[loc, log_scale]`, the parameters to differentiate with respect to."""
        return [self._mean, self._log_scale]


def multi_normal(loc: ArrayLike, log_scale: ArrayLike) -> MultiNormalDiagFromLogScale:
    """The diagonal Gaussian of mean `loc` and standard deviation `exp(log_scale)`."""
    return MultiNormalDiagFromLogScale(loc=loc, log_scale=log_scale)
