"""Annealed Gaussian gradient noise (Neelakantan et al. 2015)."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from _descent import validation
from optim._core.base import GradientTransformation
from optim._core.steps import safe_increment, step_counter, value_at


class AddNoiseState(NamedTuple):
    count: jax.Array
    rng_key: jax.Array  # raw uint32 key data, so the state is plain arrays (where, stack, save)


def _key_data(key: Any) -> jax.Array:
    if isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        return jax.random.key_data(key)
    if jnp.ndim(key) == 0:
        return jax.random.key_data(jax.random.key(key))
    return jnp.asarray(key, jnp.uint32)


def add_noise(eta: float = 0.01, gamma: float = 0.55, key: Any = 0) -> GradientTransformation:
    """Add Gaussian noise of decaying variance to the gradients:

        u_t = g_t + N(0, sigma_t**2),      sigma_t**2 = eta / t**gamma,   t = 1, 2, ...

    (the paper's `eta / (1 + t)**gamma` with its t counted from 0). The paper tried
    eta in {0.01, 0.3, 1.0} with gamma = 0.55. `key` is an int seed or a PRNG key; the state
    carries the key and splits it every step, so runs are reproducible. As optax.
    """
    validation.non_negative("eta", eta)
    validation.non_negative("gamma", gamma)

    def init(params):
        return AddNoiseState(step_counter(), _key_data(key))

    def update(updates, state, params=None, **extra):
        count = safe_increment(state.count)
        t = count.astype(jnp.float32)
        sigma = jnp.sqrt(value_at(eta, state.count) / t ** value_at(gamma, state.count))
        rng = jax.random.wrap_key_data(state.rng_key)
        rng, sample = jax.random.split(rng)
        leaves, treedef = jax.tree.flatten(updates)
        keys = jax.random.split(sample, max(len(leaves), 1))
        noisy = [
            (g + sigma * jax.random.normal(k, jnp.shape(g), jnp.float32)).astype(g.dtype)
            for g, k in zip(leaves, keys, strict=False)
        ]
        return treedef.unflatten(noisy), AddNoiseState(count, jax.random.key_data(rng))

    return GradientTransformation(init, update)
