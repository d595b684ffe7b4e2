"""Wrappers around an optimizer: skip non-finite steps, average the params, read eval params.

`apply_if_finite` guards an optimizer against NaN/Inf steps; `ema_params` keeps a running
average of the params (Polyak averaging); `eval_params` reads the params to evaluate a model
with from any state that holds some (an average, lookahead's slow weights, schedule-free's x).
Gradient accumulation lives in `optim.accumulate`, lookahead in `optim.lookahead`, per-group
transforms in `optim.partition`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import checkify

from optim import validate
from optim._ints import integer_at_least
from optim.base import GradientTransformation, Params, ScalarOrSchedule
from optim.combine import _as_transform, call_update
from optim.tree import (
    check_same_structure,
    safe_increment,
    step_counter,
    tree_all_finite,
    tree_cast,
    tree_where,
    tree_zeros_like,
    value_at,
)


def find_states(state: Any, state_type: type) -> list:
    """Every `state_type` NamedTuple inside a nested optimizer state, outermost first."""
    found = []

    def walk(node: Any) -> None:
        if isinstance(node, state_type):
            found.append(node)
        if isinstance(node, dict):
            for child in node.values():
                walk(child)
        elif isinstance(node, (tuple, list)):
            for child in node:
                walk(child)

    walk(state)
    return found


def _one_state(state: Any, state_type: type, who: str) -> Any:
    found = find_states(state, state_type)
    if len(found) != 1:
        raise ValueError(
            f"{who} expects exactly one {state_type.__name__} in the optimizer state, "
            f"found {len(found)}"
        )
    return found[0]


# --------------------------------------------------------------------------- apply_if_finite


class ApplyIfFiniteState(NamedTuple):
    count: jax.Array  # steps seen
    notfinite_count: jax.Array  # non-finite steps in a row
    total_notfinite: jax.Array  # non-finite steps in all
    gave_up: jax.Array  # bool, sticky: max_consecutive_errors non-finite steps in a row
    inner_state: Any


def apply_if_finite(
    inner: GradientTransformation, max_consecutive_errors: int, *, checked: bool = False
) -> GradientTransformation:
    """Skip the steps whose gradients or updates hold a NaN or an Inf.

    On such a step the updates are zeros and the inner state is left exactly as it was
    (`notfinite_count` and `total_notfinite` grow); a finite step is applied and resets
    `notfinite_count` to 0. After `max_consecutive_errors` non-finite steps in a row the wrapper
    gives up: `gave_up` becomes True for good (and `notfinite_count` stays as it was) and every
    later step is skipped too, so the params stay at their last finite values.

    Giving up is reported without a host sync inside `update` (a Python exception there would
    need the value on the host at every step):

    - `raise_if_gave_up(state)` raises a `FloatingPointError` naming the counts; call it in the
      training loop whenever the host looks at the state anyway (when logging, say);
    - with `checked=True`, `update` also records a `jax.experimental.checkify` check, so a step
      wrapped in `checkify.checkify(step)` returns an error whose `.throw()` raises with the
      same message. Such a step must be run through `checkify.checkify`.

    Unlike optax, whose wrapper lets the non-finite updates through once it gives up (the
    params become NaN), this one keeps the last finite params and says why it stopped; it also
    checks the inner transform's output, not only the incoming gradients.
    """
    inner = _as_transform(inner, "apply_if_finite's inner")
    integer_at_least("max_consecutive_errors", max_consecutive_errors, 1)

    def init(params):
        zero = step_counter()
        return ApplyIfFiniteState(zero, zero, zero, jnp.array(False), inner.init(params))

    def update(updates, state, params=None, **extra):
        if checked:
            checkify.check(
                jnp.logical_not(state.gave_up),
                f"apply_if_finite gave up: {max_consecutive_errors} non-finite updates in a row "
                "(max_consecutive_errors), {total} non-finite of {count} steps; the params were "
                "left at their last finite values",
                total=state.total_notfinite,
                count=state.count,
            )
        out, inner_state = call_update(inner, updates, state.inner_state, params, extra)
        finite = jnp.logical_and(tree_all_finite(updates), tree_all_finite(out))
        apply = jnp.logical_and(finite, jnp.logical_not(state.gave_up))
        # Frozen once given up, so that the report says how it gave up.
        notfinite = jnp.where(
            state.gave_up,
            state.notfinite_count,
            jnp.where(finite, 0, safe_increment(state.notfinite_count)),
        ).astype(jnp.int32)
        total = jnp.where(finite, state.total_notfinite, safe_increment(state.total_notfinite))
        gave_up = jnp.logical_or(state.gave_up, notfinite >= max_consecutive_errors)
        new_state = ApplyIfFiniteState(
            safe_increment(state.count),
            notfinite,
            total.astype(jnp.int32),
            gave_up,
            tree_where(apply, inner_state, state.inner_state),
        )
        return tree_where(apply, out, tree_zeros_like(out)), new_state

    return GradientTransformation(init, update)


def raise_if_gave_up(state: Any) -> None:
    """Raise a `FloatingPointError` if an `apply_if_finite` in `state` has given up.

    A host-side check (it reads the flag), meant for the training loop, outside `jit`.
    """
    for found in find_states(state, ApplyIfFiniteState):
        if bool(np.asarray(found.gave_up)):
            raise FloatingPointError(
                f"apply_if_finite gave up: {int(found.notfinite_count)} non-finite updates in a "
                f"row (max_consecutive_errors), {int(found.total_notfinite)} non-finite of "
                f"{int(found.count)} steps; the params were left at their last finite values. "
                "Lower the learning rate, clip the gradients, or check the loss."
            )


# --------------------------------------------------------------------------- ema_params


class EmaParamsState(NamedTuple):
    count: jax.Array
    weight_sum: jax.Array  # float32: the total weight of the averaged params so far
    averaged_params: Any


def ema_params(
    decay: ScalarOrSchedule | None = 0.999, *, debias: bool = True, dtype: Any = None
) -> GradientTransformation:
    """Average the params along training (Polyak averaging); the updates pass unchanged.

    Put it last in a chain: with `p_t = params + updates` the params after step t,

        Z_t = decay * Z_{t-1} + (1 - decay)          (Z_0 = 0)
        a_t = a_{t-1} + (1 - decay) / Z_t * (p_t - a_{t-1})

    i.e. with `debias` (default) `a_t` is the exponential moving average of p_1..p_t divided by
    its total weight `Z_t = 1 - decay**t`, Adam's bias correction (a_1 = p_1); without it,
    `a_t = decay * a_{t-1} + (1 - decay) * p_t` starting from the initial params (a_0 = p_0),
    as flax and timm's model EMA. `decay=None` is the uniform Polyak-Ruppert average
    (Polyak & Juditsky 1992) of p_1..p_t. `decay` may be a schedule. Read the average with
    `eval_params(state)`. `dtype` sets the average's dtype (default the params'); with
    bfloat16 params pass `dtype=jnp.float32`, as steps of `(1 - decay) * (p - a)` fall below
    bfloat16's resolution.
    """
    if decay is not None:
        validate.decay_rate("decay", decay)

    def init(params):
        average = tree_zeros_like(params, dtype) if debias else tree_cast(params, dtype)
        return EmaParamsState(step_counter(), jnp.zeros([], jnp.float32), average)

    def update(updates, state, params=None, **extra):
        if params is None:
            raise ValueError("ema_params needs the params: call update(grads, state, params)")
        check_same_structure(updates, state.averaged_params, "updates", "state.averaged_params")
        count = safe_increment(state.count)
        if decay is None:
            weight_sum = count.astype(jnp.float32)
            rate = 1.0 / weight_sum
        else:
            d = jnp.asarray(value_at(decay, state.count), jnp.float32)
            weight_sum = d * state.weight_sum + (1 - d)
            rate = (1 - d) / weight_sum if debias else 1 - d
        average = jax.tree.map(
            lambda a, p, u: (a + rate * (p + u - a)).astype(a.dtype),
            state.averaged_params,
            params,
            updates,
        )
        return updates, EmaParamsState(count, weight_sum, average)

    return GradientTransformation(init, update)


# --------------------------------------------------------------------------- eval_params


def eval_params(state: Any, params: Params | None = None) -> Params:
    """The params to evaluate a model with, read from an optimizer state.

    - `ema_params`: the running average of the params;
    - `lookahead`: the slow weights;
    - `schedule_free`, `schedule_free_sgd`, `schedule_free_adamw`: the averaged sequence x
      (needs the current `params`, the gradient points y).

    Raises ValueError when the state holds none of these or several.
    """
    from optim.lookahead import LookaheadState
    from optim.schedule_free import ScheduleFreeState, schedule_free_eval_params

    found = [
        *find_states(state, EmaParamsState),
        *find_states(state, LookaheadState),
        *find_states(state, ScheduleFreeState),
    ]
    if len(found) != 1:
        raise ValueError(
            "eval_params expects exactly one ema_params, lookahead or schedule_free state in "
            f"the optimizer state, found {len(found)}"
        )
    (holder,) = found
    if isinstance(holder, EmaParamsState):
        return holder.averaged_params
    if isinstance(holder, LookaheadState):
        return holder.slow_params
    if params is None:
        raise ValueError("eval_params of a schedule-free state needs the current params")
    return schedule_free_eval_params(holder, params)
