"""Constraints on the updates: `zero_nans` (NaN entries become 0) and `keep_params_nonnegative`.

Both are optax's (optax 0.2.8, `optax.transforms._constraining`), with its names and state
fields: code that reads `state.found_nan` reads it here too.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from optim._core.base import GradientTransformation, elementwise
from optim._core.structure import (
    check_same_structure,
    check_state,
    check_update_dtypes,
    require_params,
)


class ZeroNansState(NamedTuple):
    found_nan: Any  # a scalar bool per leaf: that leaf's last updates held a NaN


def zero_nans() -> GradientTransformation:
    """Replace every NaN entry of the updates by 0; infinities pass through.

        u <- where(isnan(g), 0, g)
        found_nan[leaf] = any(isnan(g[leaf]))          (the last step's, one bool per leaf)

    The state only reports (the update never reads it), so that a training loop can log where
    NaNs were zeroed. As optax's `zero_nans`.
    """

    def init(params):
        return ZeroNansState(jax.tree.map(lambda _: jnp.array(False), params))

    def update(updates, state, params=None, **extra):
        check_state(state, ZeroNansState, "zero_nans")
        check_same_structure(updates, state.found_nan, "updates", "state.found_nan",
                             shapes=False)
        check_update_dtypes(updates, params)
        found = jax.tree.map(lambda g: jnp.any(jnp.isnan(g)), updates)
        out = jax.tree.map(lambda g: jnp.where(jnp.isnan(g), jnp.zeros_like(g), g), updates)
        return out, ZeroNansState(found)

    # Not elementwise: `found_nan` is one flag per leaf, which a flat buffer would merge.
    return GradientTransformation(init, update)


class NonNegativeParamsState(NamedTuple):
    """`keep_params_nonnegative` keeps no state; the type names it, as in optax."""


def keep_params_nonnegative() -> GradientTransformation:
    """Stop the params at 0 from above: an update that would take a param below 0 takes it
    to 0 exactly.

        u <- -p   where p + u < 0,   else u

    The params are expected non-negative; a negative param is moved to 0 by the next update.
    To be the last transform of a chain (it sees the final step). As optax's
    `keep_params_nonnegative`; `update` needs the params.
    """

    def update(updates, state, params=None, **extra):
        check_state(state, NonNegativeParamsState, "keep_params_nonnegative")
        require_params(params, "keep_params_nonnegative")
        check_same_structure(updates, params, "updates", "params")
        check_update_dtypes(updates, params)
        out = jax.tree.map(
            lambda u, p: jnp.where(p + u < 0, -p, u).astype(jnp.result_type(u)), updates, params
        )
        return out, state

    return elementwise(GradientTransformation(lambda params: NonNegativeParamsState(), update))
