"""Adafactor (Shazeer & Stern 2018): factored second moments for large matrices."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from _descent import validation
from optim._core.base import GradientTransformation, ScalarOrSchedule
from optim._core.combine import chain, identity
from optim._core.masks import MaskOrFn
from optim.transforms.factored import (
    clip_by_block_rms,
    relative_step_size,
    scale_by_factored_rms,
    scale_by_param_block_rms,
)
from optim.transforms.momentum import ema
from optim.transforms.regularization import add_decayed_weights
from optim.transforms.scaling import scale, scale_by_learning_rate


def adafactor(
    learning_rate: ScalarOrSchedule | None = None,
    min_dim_size_to_factor: int = 128,
    decay_rate: float = 0.8,
    decay_offset: int = 0,
    multiply_by_parameter_scale: bool = True,
    clipping_threshold: float | None = 1.0,
    momentum: float | None = None,
    dtype_momentum: Any = jnp.float32,
    weight_decay_rate: ScalarOrSchedule | None = None,
    eps: float = 1e-30,
    factored: bool = True,
    weight_decay_mask: MaskOrFn = None,
) -> GradientTransformation:
    """Adafactor: `chain(scale_by_factored_rms, [clip_by_block_rms], scale_by_learning_rate,
    [scale_by_param_block_rms], [ema], [add_decayed_weights], scale(-1))`, optax's order.

    With the parameter scale the step is `max(1e-3, RMS(params)) * rho_t`, Algorithm 4 with
    beta1 = 0.

    Args:
      learning_rate: the step size; None is the paper's relative step
        `rho_t = min(1e-2, 1/sqrt(t))` (optax's None applies no step size at all).
      min_dim_size_to_factor: leaves whose two largest axes are both this long or longer keep
        factored moments (128); it decides shapes, so it stays static under inject_hyperparams.
      decay_rate: the second moment's decay `1 - t**(-decay_rate)` (0.8).
      decay_offset: steps subtracted from t in that decay (0).
      multiply_by_parameter_scale: scale steps by the params' RMS (relative steps).
      clipping_threshold: the update clipping's d (1.0); None for none.
      momentum: an EMA of the updates with this decay; None for none (the paper's beta1 = 0).
      dtype_momentum: that EMA's dtype (float32).
      weight_decay_rate: decoupled weight decay's rate; None for none.
      eps: epsilon1, added to the squared gradients (1e-30).
      factored: factor the second moments at all.
      weight_decay_mask: which leaves are decayed (a tree of booleans, a prefix, a function).
    """
    names = {"threshold": "clipping_threshold", "step_offset": "decay_offset", "epsilon": "eps",
             "weight_decay": "weight_decay_rate", "decay": "momentum", "factored": "factored"}
    with validation.renamed(**names):
        return _adafactor(learning_rate, min_dim_size_to_factor, decay_rate, decay_offset,
                          multiply_by_parameter_scale, clipping_threshold, momentum,
                          dtype_momentum, weight_decay_rate, eps, factored, weight_decay_mask)


def _adafactor(learning_rate, min_dim_size_to_factor, decay_rate, decay_offset,
               multiply_by_parameter_scale, clipping_threshold, momentum, dtype_momentum,
               weight_decay_rate, eps, factored, weight_decay_mask) -> GradientTransformation:
    validation.boolean("multiply_by_parameter_scale", multiply_by_parameter_scale)
    return chain(
        scale_by_factored_rms(factored, decay_rate, decay_offset, min_dim_size_to_factor, eps),
        clip_by_block_rms(clipping_threshold) if clipping_threshold is not None else identity(),
        scale_by_learning_rate(
            relative_step_size if learning_rate is None else learning_rate, flip_sign=False
        ),
        scale_by_param_block_rms() if multiply_by_parameter_scale else identity(),
        ema(momentum, debias=False, accumulator_dtype=dtype_momentum)
        if momentum is not None
        else identity(),
        add_decayed_weights(weight_decay_rate, weight_decay_mask)
        if weight_decay_rate is not None
        else identity(),
        scale(-1.0),
    )
