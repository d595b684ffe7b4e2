"""Annealed Gaussian gradient noise (Neelakantan et al. 2015)."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from _descent import validation
from optim._core.base import GradientTransformation
from optim._core.steps import safe_increment, step_counter, value_at
from optim._core.structure import check_state


class AddNoiseState(NamedTuple):
    count: jax.Array
    rng_key: jax.Array  # raw uint32 key data, so the state is plain arrays (where, stack, save)


def _key_data(key: Any) -> Any:
    """The raw data of `key`: a PRNG key (typed, or the raw uint32 data of one) or an integer
    seed >= 0; anything else is a TypeError when the transform is built."""
    if isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        return jax.random.key_data(key) if key.ndim == 0 else _bad_key(key)
    if isinstance(key, jax.core.Tracer):
        return jnp.asarray(key, jnp.uint32)  # raw data inside a traced program (a sweep)
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        return jax.random.key_data(jax.random.key(validation.integer("key", key, 0)))
    array = np.asarray(key) if not isinstance(key, (str, bytes, bool, float)) else None
    if array is not None and array.dtype == np.uint32 and array.shape == (2,):
        return jnp.asarray(array)
    return _bad_key(key)


def _bad_key(key: Any) -> Any:
    raise TypeError(f"key must be an integer seed >= 0 or a PRNG key (jax.random.key(seed)), "
                    f"got {key!r}")


def add_noise(
    eta: float = 0.01, gamma: float = 0.55, key: Any = None, *, seed: int | None = None
) -> GradientTransformation:
    """Add Gaussian noise of decaying variance to the gradients:

        u_t = g_t + N(0, sigma_t**2),      sigma_t**2 = eta / t**gamma,   t = 1, 2, ...

    (the paper's `eta / (1 + t)**gamma` with its t counted from 0). The paper tried
    eta in {0.01, 0.3, 1.0} with gamma = 0.55. `key` is an int seed or a PRNG key; the state
    carries the key and splits it every step, so runs are reproducible. As optax. `key`
    None is seed 0; `seed` is optax's older keyword for an int key (give one of the two).
    """
    validation.non_negative("eta", eta)
    validation.non_negative("gamma", gamma)
    if seed is not None and key is not None:
        raise ValueError(f"give add_noise a key or a seed, not both; got key={key!r}, "
                         f"seed={seed!r}")
    data = _key_data(seed if seed is not None else 0 if key is None else key)

    def init(params):
        return AddNoiseState(step_counter(), jnp.array(data))

    def update(updates, state, params=None, **extra):
        check_state(state, AddNoiseState, "add_noise")
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
