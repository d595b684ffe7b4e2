"""Guarding an optimizer against non-finite steps: `apply_if_finite`, `raise_if_gave_up`."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import checkify

from _descent import validation
from optim._core.base import GradientTransformation, elementwise_if, is_elementwise
from optim._core.combine import call_update
from optim._core.state import find_states
from optim._core.steps import safe_increment, step_counter
from optim._core.structure import as_transform, check_state
from optim.tree import tree_all_finite, tree_where, tree_zeros_like


class ApplyIfFiniteState(NamedTuple):
    count: jax.Array  # steps seen
    notfinite_count: jax.Array  # non-finite steps in a row
    total_notfinite: jax.Array  # non-finite steps in all
    gave_up: jax.Array  # bool, sticky: max_consecutive_errors non-finite steps in a row
    inner_state: Any


def apply_if_finite(
    inner: GradientTransformation, max_consecutive_errors: int, *, checked: bool = False
) -> GradientTransformation:
    """Skip the steps whose gradients, updates or new inner state hold a NaN or an Inf.

    On such a step the updates are zeros and the inner state is left exactly as it was
    (`notfinite_count` and `total_notfinite` grow); a finite step is applied and resets
    `notfinite_count` to 0. A step is also skipped when it would poison the inner state: an
    entry of the new state non-finite where the old one was finite (a second moment that
    overflowed, say), even if the updates themselves are finite. After
    `max_consecutive_errors` non-finite steps in a row `gave_up` becomes True for good, to be
    reported; the wrapper still skips every non-finite step and applies every finite one, so
    the params never hold a NaN and training goes on when the gradients recover.

    Giving up is reported without a host sync inside `update` (a Python exception there would
    need the value on the host at every step):

    - `raise_if_gave_up(state)` raises a `FloatingPointError` naming the counts; call it in the
      training loop whenever the host looks at the state anyway (when logging, say);
    - with `checked=True`, `update` also records a `jax.experimental.checkify` check, so a step
      wrapped in `checkify.checkify(step)` returns an error whose `.throw()` raises with the
      same message. Such a step must be run through `checkify.checkify`.

    Unlike optax, whose wrapper lets the non-finite updates through after
    `max_consecutive_errors` of them (the params become NaN), this one never applies a
    non-finite step and says that it reached the limit; it also checks the inner transform's
    output and new state, not only the incoming gradients.
    """
    validation.boolean("checked", checked)
    inner = as_transform(inner, "apply_if_finite's inner")
    validation.integer("max_consecutive_errors", max_consecutive_errors, 1, concrete=False)

    def init(params):
        # One buffer per field: a step that donates the state may not donate one twice.
        return ApplyIfFiniteState(step_counter(), step_counter(), step_counter(),
                                  jnp.array(False), inner.init(params))

    def update(updates, state, params=None, **extra):
        check_state(state, ApplyIfFiniteState, "apply_if_finite")
        if checked:
            checkify.check(
                jnp.logical_not(state.gave_up),
                f"apply_if_finite gave up: {max_consecutive_errors} non-finite updates in a row "
                "(max_consecutive_errors), {total} non-finite of {count} steps, all skipped; the "
                "params hold no NaN",
                total=state.total_notfinite,
                count=state.count,
            )
        out, inner_state = call_update(inner, updates, state.inner_state, params, extra)
        finite = tree_all_finite(updates) & tree_all_finite(out)
        finite = finite & ~_poisoned(state.inner_state, inner_state)
        notfinite = jnp.where(finite, 0, safe_increment(state.notfinite_count)).astype(jnp.int32)
        total = jnp.where(finite, state.total_notfinite, safe_increment(state.total_notfinite))
        gave_up = state.gave_up | (notfinite >= max_consecutive_errors)
        new_state = ApplyIfFiniteState(
            safe_increment(state.count),
            notfinite,
            total.astype(jnp.int32),
            gave_up,
            tree_where(finite, inner_state, state.inner_state),
        )
        return tree_where(finite, out, tree_zeros_like(out)), new_state

    return elementwise_if(is_elementwise(inner), GradientTransformation(init, update))


def _poisoned(old: Any, new: Any) -> jax.Array:
    """True when an entry of `new` is NaN or Inf where the same entry of `old` was finite."""
    flags = [
        jnp.any(~jnp.isfinite(n) & jnp.isfinite(o))
        for o, n in zip(jax.tree.leaves(old), jax.tree.leaves(new), strict=True)
        if jnp.issubdtype(jnp.result_type(n), jnp.inexact)
    ]
    return jnp.any(jnp.stack(flags)) if flags else jnp.array(False)


def raise_if_gave_up(state: Any) -> None:
    """Raise a `FloatingPointError` if an `apply_if_finite` in `state` has given up.

    A host-side check (it reads the flag), meant for the training loop, outside `jit`.
    """
    for found in find_states(state, ApplyIfFiniteState):
        if bool(np.asarray(found.gave_up)):
            raise FloatingPointError(
                "apply_if_finite gave up: max_consecutive_errors non-finite updates in a row "
                f"were reached; {int(found.total_notfinite)} non-finite of {int(found.count)} "
                f"steps, all skipped ({int(found.notfinite_count)} in a row now); the params "
                "hold no NaN. Lower the learning rate, clip the gradients, or check the loss."
            )
