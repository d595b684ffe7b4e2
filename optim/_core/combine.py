"""Composition: `chain`, `named_chain`, `identity`, `stateless`, `with_extra_args_support`.

`chain` forwards keyword extras (`value=`, `value_fn=`, ...) to each transform that accepts
them. Transforms of this library accept `**extra`; a foreign transform (an optax one, say)
receives only the keywords its `update` declares, so optax transforms work inside a chain.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from optim._core.base import (
    EmptyState,
    GradientTransformation,
    Params,
    Updates,
    elementwise,
    elementwise_if,
    is_elementwise,
)
from optim._core.structure import as_transform, check_float_params


def _extras_filter(update: Callable) -> Callable[[dict], dict]:
    """A function that keeps the extras `update` can take (decided once, at build time)."""
    try:
        parameters = inspect.signature(update).parameters.values()
    except (TypeError, ValueError):
        return lambda extra: {}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return lambda extra: extra
    names = {
        p.name
        for p in parameters
        if p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    } - {"updates", "state", "params"}
    return lambda extra: {k: v for k, v in extra.items() if k in names}


def call_update(
    tx: GradientTransformation, updates: Updates, state: Any, params: Params | None, extra: dict
) -> tuple[Updates, Any]:
    """Call `tx.update` with just the extras it accepts."""
    return tx.update(updates, state, params, **_extras_filter(tx.update)(extra))


def with_extra_args_support(tx: GradientTransformation) -> GradientTransformation:
    """`tx` with an `update(updates, state, params=None, **extra)` that passes on only the
    keyword extras `tx.update` declares (all of them when it takes `**extra`), as optax's.

    Every transform of this library already accepts extras; this is for foreign ones.
    """
    tx = as_transform(tx, "with_extra_args_support's argument")
    keep = _extras_filter(tx.update)

    def update(updates, state, params=None, **extra):
        return tx.update(updates, state, params, **keep(extra))

    return elementwise_if(is_elementwise(tx), GradientTransformation(tx.init, update))


def chain(*transforms: GradientTransformation) -> GradientTransformation:
    """Apply transforms one after the other; the state is the tuple of their states."""
    transforms = tuple(as_transform(t, f"chain argument {i}") for i, t in enumerate(transforms))
    filters = tuple(_extras_filter(t.update) for t in transforms)

    def init(params: Params) -> tuple:
        check_float_params(params)
        return tuple(t.init(params) for t in transforms)

    def update(updates, state, params=None, **extra):
        if not isinstance(state, tuple) or len(state) != len(transforms):
            got = f"{len(state)} parts" if isinstance(state, tuple) else (
                f"type {type(state).__name__}")
            raise ValueError(
                f"chain of {len(transforms)} transforms got a state of {got}; it needs the "
                f"tuple of {len(transforms)} states its init returns"
            )
        new_state = []
        for t, keep, s in zip(transforms, filters, state, strict=True):
            updates, s = t.update(updates, s, params, **keep(extra))
            new_state.append(s)
        return updates, tuple(new_state)

    fused_ok = all(map(is_elementwise, transforms))
    return elementwise_if(fused_ok, GradientTransformation(init, update))


def named_chain(*named: tuple[str, GradientTransformation]) -> GradientTransformation:
    """`chain` whose state is a dict keyed by the given names: `state["adam"].mu`."""
    names = [name for name, _ in named]
    if len(set(names)) != len(names):
        raise ValueError(f"named_chain names must be unique, got {names}")
    transforms = {name: as_transform(t, f"named_chain entry {name!r}") for name, t in named}
    filters = {name: _extras_filter(t.update) for name, t in transforms.items()}

    def init(params: Params) -> dict:
        check_float_params(params)
        return {name: t.init(params) for name, t in transforms.items()}

    def update(updates, state, params=None, **extra):
        if not isinstance(state, dict):
            raise ValueError(f"named_chain needs the dict of states its init returns (keys "
                             f"{names}), got {type(state).__name__}")
        if set(state) != set(names):
            raise ValueError(f"named_chain expects state keys {names}, got {sorted(state)}")
        new_state = {}
        for name, t in transforms.items():
            keep = filters[name]
            updates, new_state[name] = t.update(updates, state[name], params, **keep(extra))
        return updates, new_state

    fused_ok = all(map(is_elementwise, transforms.values()))
    return elementwise_if(fused_ok, GradientTransformation(init, update))


def identity() -> GradientTransformation:
    """Leave the updates as they are."""
    return elementwise(GradientTransformation(lambda params: EmptyState(), _identity_update))


def _identity_update(updates, state, params=None, **extra):
    return updates, state


def stateless(
    f: Callable[[Updates, Params | None], Updates],
) -> GradientTransformation:
    """A transform from a pure `f(updates, params) -> updates` that keeps no state."""

    def update(updates, state, params=None, **extra):
        return f(updates, params), state

    return GradientTransformation(lambda params: EmptyState(), update)
