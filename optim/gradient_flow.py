"""`scale_gradient`: the identity on the forward pass, its gradient scaled on the backward pass
(optax's; a scale of 0 is `stop_gradient`, and of -1 the gradient reversal of Ganin &
Lempitsky 2015)."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from jax.typing import ArrayLike

from _descent import validation


@jax.custom_vjp
def _scaled(inputs: Any, scale: ArrayLike) -> Any:
    return inputs


def _scaled_forward(inputs, scale):
    return inputs, scale


def _scaled_backward(scale, cotangents):
    return jax.tree.map(lambda g: (g * scale).astype(g.dtype), cotangents), None


_scaled.defvjp(_scaled_forward, _scaled_backward)


def scale_gradient(inputs: Any, scale: ArrayLike) -> Any:
    """`inputs` unchanged, with the gradient flowing back through it multiplied by `scale`.

        forward:  y = x            backward:  dL/dx = scale * dL/dy

    `scale` a real scalar (a traced one too); 1 returns `inputs` itself, 0 stops the gradient.
    """
    if isinstance(scale, jax.core.Tracer):
        return _scaled(inputs, scale)
    number = validation.real("scale", scale)
    if np.isnan(number):
        raise ValueError(f"scale must be a real number, got {scale!r}")
    if number == 1.0:
        return inputs
    if number == 0.0:
        return jax.lax.stop_gradient(inputs)
    return _scaled(inputs, scale)
