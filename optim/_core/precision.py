"""The dtypes of optimizer states.

Moments keep their params' dtype (bfloat16 params keep bfloat16 moments: bfloat16 has
float32's range), except float16: its range (6e-8 to 65504) cannot hold a squared gradient
(1e-4 squared underflows to 0, 300 squared overflows) nor Adam's eps of 1e-8, so the moments
of float16 params are float32 unless a `mu_dtype` / `nu_dtype` says otherwise. The updates are
cast back to float16.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp


def check_state_dtype(name: str, dtype: Any) -> None:
    """None, or a floating dtype: an integer moment would round every update to 0."""
    if dtype is None:
        return
    try:
        kind = jnp.dtype(dtype)
    except TypeError:
        raise TypeError(f"{name} must be a floating dtype or None, got {dtype!r}") from None
    if not jnp.issubdtype(kind, jnp.floating):
        raise TypeError(f"{name} must be a floating dtype or None, got {kind}")


def moment_dtype(leaf: Any, dtype: Any = None) -> Any:
    """`dtype`, or the leaf's own floating dtype widened from float16 to float32. For a
    complex leaf a real `dtype` names the precision of the complex moment (float32 gives
    complex64), so that a first moment keeps the leaf's imaginary part."""
    own = jnp.result_type(leaf)
    if dtype is not None:
        if jnp.issubdtype(own, jnp.complexfloating):
            return jnp.promote_types(dtype, jnp.complex64)
        return jnp.dtype(dtype)
    return jnp.dtype(jnp.float32) if own == jnp.float16 else own


def real_dtype(dtype: Any) -> Any:
    """The real dtype of the same precision: float32 for complex64, float64 for complex128,
    a real dtype itself."""
    return jnp.finfo(dtype).dtype


def real_moments_like(params: Any, dtype: Any = None, value: float = 0.0) -> Any:
    """As `moments_like`, in the real dtype of each leaf's moment dtype: the moments of
    `|g|**2` (Adam's, RMSProp's and AdaGrad's second moments) are real for complex params,
    as optax's values (optax keeps them in a complex dtype with a zero imaginary part)."""
    return jax.tree.map(
        lambda p: jnp.full_like(p, value, dtype=real_dtype(moment_dtype(p, dtype))), params
    )


def moments_like(params: Any, dtype: Any = None, value: float = 0.0) -> Any:
    """`value` everywhere, with the params' structure, shapes and shardings, in `moment_dtype`.

    `jnp.full_like` keeps a committed param's sharding, so the moments of params spread over
    devices are spread the same way; the dtype is always given, so a weakly typed param does
    not give weakly typed moments.
    """
    return jax.tree.map(
        lambda p: jnp.full_like(p, value, dtype=moment_dtype(p, dtype)), params
    )
