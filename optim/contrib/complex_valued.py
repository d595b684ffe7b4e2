"""Complex params through a real optimizer: each complex leaf becomes the pair
(real part, imaginary part) (optax.contrib.split_real_and_imaginary)."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from optim._core.base import GradientTransformation
from optim._core.combine import call_update
from optim._core.structure import as_transform, check_state


class SplitRealAndImaginaryArrays(NamedTuple):
    """A complex array as its two real parts (a pytree node with two leaves)."""

    real: jax.Array
    imaginary: jax.Array


class SplitRealAndImaginaryState(NamedTuple):
    inner_state: Any


def _split(x: Any) -> Any:
    return SplitRealAndImaginaryArrays(jnp.real(x), jnp.imag(x)) if jnp.iscomplexobj(x) else x


def _merge(x: Any) -> Any:
    if isinstance(x, SplitRealAndImaginaryArrays):
        return jax.lax.complex(x.real, x.imaginary)
    return x


def split_real_and_imaginary(inner: GradientTransformation) -> GradientTransformation:
    """Run `inner` on real numbers: a complex leaf `z = x + i y` (param and gradient alike)
    is handed to `inner` as the pair `(x, y)`, and the pair of updates it returns becomes
    `u_x + i u_y`. Real leaves pass as they are. So `split_real_and_imaginary(adam())` is
    Adam on the real and imaginary parts as separate coordinates (each with its own second
    moment), unlike `adam()` on complex params, whose second moment is `|g|^2`. As optax.
    Keyword extras reach `inner` as through `chain`.
    """
    inner = as_transform(inner, "split_real_and_imaginary's inner")

    def init(params):
        return SplitRealAndImaginaryState(inner.init(jax.tree.map(_split, params)))

    def update(updates, state, params=None, **extra):
        check_state(state, SplitRealAndImaginaryState, "split_real_and_imaginary")
        split_params = None if params is None else jax.tree.map(_split, params)
        out, inner_state = call_update(inner, jax.tree.map(_split, updates), state.inner_state,
                                       split_params, extra)
        is_pair = lambda x: isinstance(x, SplitRealAndImaginaryArrays)  # noqa: E731
        return jax.tree.map(_merge, out, is_leaf=is_pair), SplitRealAndImaginaryState(
            inner_state)

    return GradientTransformation(init, update)
