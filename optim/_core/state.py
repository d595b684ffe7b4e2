"""Read and set a named field anywhere in a nested optimizer state; find a state by type.

States are trees of NamedTuples, dicts, tuples and lists; a field is found by its name
(a NamedTuple attribute or a dict key such as `count`, `learning_rate`, `mu`), so code never has
to index a state by position (`state[0][1]`).
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
from jax import lax

_MISSING = object()


def _children(node: Any) -> list[tuple[str, Any]] | None:
    if isinstance(node, tuple) and hasattr(node, "_fields"):
        return [(name, getattr(node, name)) for name in node._fields]
    if isinstance(node, dict):
        return [(str(key), value) for key, value in node.items()]
    if isinstance(node, (tuple, list)):
        return [(f"[{i}]", value) for i, value in enumerate(node)]
    return None


def find_states(state: Any, state_type: type) -> list:
    """Every `state_type` NamedTuple inside a nested optimizer state, outermost first."""
    found = []

    def walk(node: Any) -> None:
        if isinstance(node, state_type):
            found.append(node)
        for _, child in _children(node) or ():
            walk(child)

    walk(state)
    return found


def one_state(state: Any, state_type: type, who: str) -> Any:
    """The one `state_type` inside `state`; a ValueError naming `who` when there are 0 or 2+."""
    found = find_states(state, state_type)
    if len(found) != 1:
        raise ValueError(
            f"{who} expects exactly one {state_type.__name__} in the optimizer state, "
            f"found {len(found)}"
        )
    return found[0]


def find_fields(state: Any, name: str) -> dict[str, Any]:
    """Every field called `name` in `state`, keyed by its path (e.g. `[1].count`)."""
    found: dict[str, Any] = {}

    def walk(node: Any, path: str) -> None:
        children = _children(node)
        if children is None:
            return
        for key, child in children:
            child_path = f"{path}{key}" if key.startswith("[") else f"{path}.{key}" if path else key
            if key == name:
                found[child_path] = child
            else:
                walk(child, child_path)

    walk(state, "")
    return found


def get_field(state: Any, name: str, default: Any = _MISSING) -> Any:
    """The one field called `name` in `state`.

    Raises KeyError when there is none (unless `default` is given) and when there are several
    (their paths are listed; reach the one you want through `named_chain`'s names).
    """
    found = find_fields(state, name)
    if len(found) == 1:
        return next(iter(found.values()))
    if not found:
        if default is not _MISSING:
            return default
        raise KeyError(f"no field named {name!r} in the optimizer state")
    raise KeyError(f"several fields named {name!r} in the optimizer state: {sorted(found)}")


def set_field(state: Any, **values: Any) -> Any:
    """A copy of `state` with each named field replaced (every occurrence of that name).

    Raises KeyError when a name is nowhere in the state.
    """
    missing = [name for name in values if not find_fields(state, name)]
    if missing:
        raise KeyError(f"no field named {missing} in the optimizer state")

    def replace(key: str, old: Any) -> Any:
        # Keep the old leaf's dtype, shape and weak type (injected Python numbers are weakly
        # typed), so a jitted update does not retrace.
        if key in values:
            new = values[key]
            if hasattr(old, "dtype") and not callable(new):
                return lax.full_like(old, 0).at[...].set(jnp.asarray(new, old.dtype))
            return new
        return rebuild(old)

    def rebuild(node: Any) -> Any:
        if isinstance(node, tuple) and hasattr(node, "_fields"):
            return type(node)(**{key: replace(key, getattr(node, key)) for key in node._fields})
        if isinstance(node, dict):
            return type(node)((key, replace(str(key), child)) for key, child in node.items())
        if isinstance(node, (tuple, list)):
            return type(node)(rebuild(child) for child in node)
        return node

    return rebuild(state)
