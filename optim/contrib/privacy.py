"""Differentially private aggregation of per-example gradients and DP-SGD (Abadi, Chu,
Goodfellow, McMahan, Mironov, Talwar & Zhang 2016, "Deep Learning with Differential
Privacy")."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from _descent import validation
from optim._core.base import GradientTransformation, ScalarOrSchedule
from optim._core.combine import chain, identity
from optim._core.structure import check_state, check_update_dtypes
from optim.transforms.momentum import trace
from optim.transforms.scaling import scale_by_learning_rate


class DifferentiallyPrivateAggregateState(NamedTuple):
    rng_key: jax.Array  # raw uint32 key data, so the state is plain arrays


def _key_data(key: Any, name: str) -> jax.Array:
    """A PRNG key's raw data, from an integer seed >= 0 or a key (typed or raw)."""
    if isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        if key.ndim == 0:
            return jax.random.key_data(key)
    elif isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        return jax.random.key_data(jax.random.key(validation.integer(name, key, 0)))
    elif isinstance(key, (np.ndarray, jax.Array)) and key.dtype == np.uint32 and (
            key.shape == (2,)):
        return jnp.asarray(key)
    raise TypeError(f"{name} must be an integer seed >= 0 or a PRNG key (jax.random.key(seed)), "
                    f"got {key!r}")


def differentially_private_aggregate(
    l2_norm_clip: float,
    noise_multiplier: float,
    key: Any = None,
    *,
    seed: int | None = None,
) -> GradientTransformation:
    """The DP-SGD aggregation of per-example gradients (Abadi et al. 2016, Algorithm 1):

        g~_i = g_i / max(1, ||g_i|| / l2_norm_clip)        (||.|| over all leaves of example i)
        u = (sum_i g~_i + N(0, (l2_norm_clip * noise_multiplier)^2 I)) / B

    The updates are per-example gradients: every leaf has the batch of B examples on axis 0
    (`jax.vmap(jax.grad(loss), in_axes=(None, 0))`), and the result has the params' shapes.
    It must come first in a chain and does not combine with gradient accumulation. `key` is
    an integer seed or a PRNG key (`seed`, optax's older name, the same); optax warns and
    uses key 0 when neither is given, this raises. The noise is drawn per leaf with a key
    split from the state's, as optax 0.2.8 does.
    """
    validation.fixed_number("l2_norm_clip", l2_norm_clip)
    validation.positive("l2_norm_clip", l2_norm_clip)
    validation.fixed_number("noise_multiplier", noise_multiplier)
    validation.non_negative("noise_multiplier", noise_multiplier)
    if key is not None and seed is not None:
        raise TypeError(f"give key or seed, not both; got key={key!r} and seed={seed!r}")
    if key is None and seed is None:
        raise TypeError("differentially_private_aggregate needs a key: an integer seed or a "
                        "PRNG key (jax.random.key(seed))")
    data = _key_data(key, "key") if key is not None else _key_data(seed, "seed")
    noise_std = l2_norm_clip * noise_multiplier

    def init(params):
        return DifferentiallyPrivateAggregateState(jnp.array(data))

    def update(updates, state, params=None, **extra):
        check_state(state, DifferentiallyPrivateAggregateState,
                    "differentially_private_aggregate")
        check_update_dtypes(updates)
        leaves, treedef = jax.tree.flatten(updates)
        if not leaves:
            return updates, state
        sizes = {jnp.shape(g)[0] if jnp.ndim(g) else None for g in leaves}
        if len(sizes) != 1 or None in sizes:
            raise ValueError("differentially_private_aggregate needs per-example gradients: "
                             "every leaf with the batch on axis 0, the same size for all; got "
                             f"shapes {[jnp.shape(g) for g in leaves]}")
        batch = sizes.pop()
        squares = sum(jnp.sum(jnp.square(g.reshape(batch, -1).astype(jnp.promote_types(
            g.dtype, jnp.float32))), axis=1) for g in leaves)
        norms = jnp.sqrt(squares)
        factors = jnp.nan_to_num(jnp.minimum(l2_norm_clip / norms, 1.0), nan=1.0)
        key, *keys = jax.random.split(jax.random.wrap_key_data(state.rng_key), len(leaves) + 1)
        out = [
            ((jnp.tensordot(factors.astype(g.dtype), g, axes=1)
              + noise_std * jax.random.normal(k, g.shape[1:], g.dtype)) / batch).astype(g.dtype)
            for g, k in zip(leaves, keys, strict=True)
        ]
        return treedef.unflatten(out), DifferentiallyPrivateAggregateState(
            jax.random.key_data(key))

    return GradientTransformation(init, update)


def dpsgd(
    learning_rate: ScalarOrSchedule,
    l2_norm_clip: float,
    noise_multiplier: float,
    seed: int,
    momentum: float | None = None,
    nesterov: bool = False,
) -> GradientTransformation:
    """DP-SGD: `chain(differentially_private_aggregate(l2_norm_clip, noise_multiplier,
    seed), trace(momentum, nesterov) if momentum is not None, scale_by_learning_rate)`."""
    validation.boolean("nesterov", nesterov)
    return chain(
        differentially_private_aggregate(l2_norm_clip, noise_multiplier, seed=seed),
        identity() if momentum is None else trace(momentum, nesterov),
        scale_by_learning_rate(learning_rate),
    )
