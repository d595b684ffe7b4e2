"""Arithmetic that cannot overflow into a state: saturation at the dtype's largest number.

A single finite gradient of 1e20 has a square of 1e40, past float32's 3.4e38: unguarded, a
second moment becomes inf and every later update is 0 for good. Squares and moments are
therefore capped at the largest finite value of their dtype (NaN stays NaN, so a real NaN
is still seen by `apply_if_finite`). For ordinary values the cap changes no bit.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def saturate(x: jax.Array) -> jax.Array:
    """`x` clipped to `[-max, max]` of its floating dtype (NaN unchanged); a complex `x` has
    its real and imaginary parts clipped each (complex numbers have no order)."""
    if jnp.iscomplexobj(x):
        return jax.lax.complex(saturate(jnp.real(x)), saturate(jnp.imag(x)))
    big = jnp.finfo(x.dtype).max
    return jnp.clip(x, -big, big)


def saturated_square(x: jax.Array) -> jax.Array:
    """`x * x`, at most the largest finite value of `x`'s dtype (NaN unchanged)."""
    return jnp.minimum(jnp.square(x), jnp.finfo(x.dtype).max)


def saturated_abs_square(x: jax.Array) -> jax.Array:
    """`|x|**2`, real, at most the largest finite value of its real dtype (NaN unchanged):
    `x * x` for a real `x`, `re**2 + im**2` (`x` times its conjugate) for a complex one."""
    if not jnp.iscomplexobj(x):
        return saturated_square(x)
    re, im = jnp.real(x), jnp.imag(x)
    return jnp.minimum(jnp.square(re) + jnp.square(im), jnp.finfo(re.dtype).max)
