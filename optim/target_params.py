"""Slow copies of the params: Polyak averaging and periodic target networks.

    target = incremental_update(params, target, step_size)   step_size * new + (1 - step_size) * old
    target = periodic_update(params, target, step, period)   new every `period` steps, else old

optax's `incremental_update` and `periodic_update` (Polyak & Juditsky 1992; the target
networks of Mnih et al. 2015 and Grill et al. 2020). Functions of params, not transforms; for
an average kept in an optimizer state see `ema_params`.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from _descent import validation
from optim._core.structure import check_same_structure


def _is_none(x: Any) -> bool:
    return x is None


def incremental_update(new_tensors: Any, old_tensors: Any, step_size: ArrayLike) -> Any:
    """The moving average `step_size * new + (1 - step_size) * old`, leaf by leaf.

    `step_size` in [0, 1] (1 copies `new`, 0 keeps `old`); a None leaf of `new_tensors` stays
    None. Each leaf keeps the dtype of its `old_tensors` leaf.
    """
    validation.in_range("step_size", step_size, 0.0, 1.0)
    rate = jnp.asarray(step_size)

    def average(new, old):
        if new is None:
            return None
        return (rate * new + (1 - rate) * old).astype(jnp.result_type(old))

    return jax.tree.map(average, new_tensors, old_tensors, is_leaf=_is_none)


def periodic_update(
    new_tensors: Any, old_tensors: Any, steps: ArrayLike, update_period: ArrayLike
) -> Any:
    """`new_tensors` when `steps` is a multiple of `update_period`, else `old_tensors`.

    `steps` counts the updates of the online params (an int array, traced or not);
    `update_period` a positive integer. Chosen by `lax.cond`, without a host sync.
    """
    validation.integer("update_period", update_period, 1, concrete=False)
    check_same_structure(new_tensors, old_tensors, "new_tensors", "old_tensors")
    return jax.lax.cond(
        jnp.mod(steps, update_period) == 0, lambda: new_tensors, lambda: old_tensors
    )
