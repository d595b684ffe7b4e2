"""The Polyak step size from the loss value (Polyak 1987; stochastic form: Loizou, Vaswani,
Laradji & Lacoste-Julien 2021, "Stochastic Polyak Step-size for SGD")."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from _descent import validation
from optim._core.base import EmptyState, GradientTransformation, elementwise
from optim._core.steps import value_at
from optim._core.structure import check_update_dtypes
from optim.tree import tree_scale, tree_sum_of_squares

# optax's floor for the squared norm: below it the step is 0 (a stationary point).
_TINY = float(np.finfo(np.float64).eps)


def scale_by_polyak(
    f_min: float = 0.0,
    max_learning_rate: float = 1.0,
    eps: float = 0.0,
    variant: str = "sps",
) -> GradientTransformation:
    """Scale the update by the Polyak step, read from the loss `value=` given to `update`:

        gamma_t = min((f(x_t) - f_min) / (||g_t||**2 + eps), max_learning_rate)     "sps"
        gamma_t = min(max(f(x_t) - f_min, 0) / (||g_t||**2 + eps), max_learning_rate) "sps+"
        u_t     = gamma_t * g_t        (gamma_t = 0 where ||g_t||**2 + eps <= 2.2e-16)

    Loizou et al. 2021's SPS_max, with `f_min` the loss's lower bound (0 for interpolating
    models). Call `update(grads, state, params, value=loss)`; a chain passes `value=` on.
    ||g|| is the global norm of the updates this transform receives, as optax's.
    """
    validation.fixed_number("f_min", f_min)
    validation.finite("f_min", f_min)
    validation.fixed_number("max_learning_rate", max_learning_rate)
    validation.positive("max_learning_rate", max_learning_rate)
    validation.fixed_number("eps", eps)
    validation.non_negative("eps", eps)
    validation.choice("variant", variant, ("sps", "sps+"))

    def update(updates, state, params=None, *, value=None, **extra):
        if value is None:
            raise TypeError("scale_by_polyak needs the loss: call "
                            "update(grads, state, params, value=loss)")
        check_update_dtypes(updates, params)
        squared = tree_sum_of_squares(updates)
        gap = jnp.asarray(value - value_at(f_min, None)).astype(squared.dtype)
        if variant == "sps+":
            gap = jnp.maximum(gap, 0)
        denominator = squared + value_at(eps, None)
        step = jnp.where(
            denominator <= _TINY, 0.0,
            jnp.minimum(gap / denominator, value_at(max_learning_rate, None)),
        )
        return tree_scale(step, updates), state

    return elementwise(GradientTransformation(lambda params: EmptyState(), update))
