"""optax.tree's access to a nested optimizer state by field name: `get`, `set`,
`get_all_with_path`, and `map_params` (a function applied to the parts of a state shaped like
the params).

A field is found by name in a NamedTuple (`count`, `mu`, ...), as a dict key (the
`hyperparams` dict of `inject_hyperparams`' state: `learning_rate`), or a whole NamedTuple by
its class name (`ScaleByAdamState`); lists, tuples and other pytrees are searched through.
Paths are tuples of jax's key entries, with `NamedTupleKey(tuple_name, name)` for a
NamedTuple's field, as optax writes them.

    optim.tree.get(state, "learning_rate")          # None when absent, KeyError when ambiguous
    state = optim.tree.set(state, learning_rate=0.01)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax

Filter = Callable[[tuple, Any], bool]


@dataclasses.dataclass(frozen=True)
class NamedTupleKey:
    """The path entry of a NamedTuple field: the tuple's class name and the field's name."""

    tuple_name: str
    name: str

    def __str__(self) -> str:
        return f"{self.tuple_name}.{self.name}"


def _is_named_tuple(node: Any) -> bool:
    return isinstance(node, tuple) and hasattr(node, "_fields")


def _has_any(node: Any, keys: tuple) -> bool:
    """A NamedTuple with one of `keys` as a field or as its class name, or a dict holding one."""
    if _is_named_tuple(node):
        return any(k in node._fields or k == type(node).__name__ for k in keys)
    return isinstance(node, dict) and any(k in node for k in keys)


def _children(node: Any, path: tuple) -> list[tuple[tuple, Any]]:
    """The direct children of a pytree node with their paths (none for a leaf)."""
    if _is_named_tuple(node):
        name = type(node).__name__
        return [((*path, NamedTupleKey(name, f)), getattr(node, f)) for f in node._fields]
    if isinstance(node, dict):  # in insertion order, as the user wrote the dict
        return [((*path, jax.tree_util.DictKey(k)), v) for k, v in node.items()]
    if node is None:
        return []
    flat, structure = jax.tree_util.tree_flatten_with_path(node, is_leaf=lambda x: x is not node)
    if jax.tree_util.treedef_is_leaf(structure):
        return []
    return [((*path, *sub), child) for sub, child in flat]


def _outermost(node: Any, key: Any, path: tuple) -> list[tuple[tuple, Any]]:
    """The nodes holding `key` not inside another such node, in the tree's order."""
    if _has_any(node, (key,)):
        return [(path, node)]
    return [found for child_path, child in _children(node, path)
            for found in _outermost(child, key, child_path)]


def _all_with_path(tree: Any, key: Any, path: tuple = ()) -> list[tuple[tuple, Any]]:
    holders = _outermost(tree, key, path)
    found = []
    for holder_path, holder in holders:
        if _is_named_tuple(holder) and type(holder).__name__ == key:
            found.append((holder_path, holder))
        elif _is_named_tuple(holder):
            found.append(((*holder_path, NamedTupleKey(type(holder).__name__, key)),
                          getattr(holder, key)))
        else:
            found.append(((*holder_path, jax.tree_util.DictKey(key)), holder[key]))
    # Then the fields of the same name further inside each holder, holder by holder.
    for holder_path, holder in holders:
        for child_path, child in _children(holder, holder_path):
            found += _all_with_path(child, key, child_path)
    return found


def get_all_with_path(tree: Any, key: Any,
                      filtering: Filter | None = None) -> list[tuple[tuple, Any]]:
    """Every `(path, value)` of a field, dict entry or NamedTuple called `key` in `tree`
    (the outermost ones first), those for which `filtering(path, value)` holds when it is
    given; an empty list when there is none."""
    found = _all_with_path(tree, key)
    if filtering is not None:
        found = [(path, value) for path, value in found if filtering(path, value)]
    return found


def get(tree: Any, key: Any, default: Any = None, filtering: Filter | None = None) -> Any:
    """The one value called `key` in `tree` (see `get_all_with_path`); `default` when there
    is none, a KeyError naming `key` and the paths when there are several (narrow them with
    `filtering`, e.g. on the path's NamedTuple names)."""
    found = get_all_with_path(tree, key, filtering)
    if len(found) > 1:
        paths = ["".join(str(entry) for entry in path) for path, _ in found]
        raise KeyError(f"Found multiple values for {key!r}, at {paths}")
    return found[0][1] if found else default


def set(tree: Any, filtering: Filter | None = None, /, **kwargs: Any) -> Any:  # noqa: A001
    """A copy of `tree` with every field, dict entry or NamedTuple called by a keyword
    replaced by its value (those `filtering(path, value)` accepts, when given). The values
    are put in as given (no cast: a Python float stays a float). A keyword found nowhere
    raises a KeyError naming it.

    Every match `get_all_with_path` finds is replaced, also one under a list or tuple inside
    another match (optax 0.2.8 leaves those as they were: with `chain(inject_hyperparams(adam))`
    its `set(state, count=...)` changes the outer count only)."""
    for key in kwargs:
        if not get_all_with_path(tree, key, filtering):
            given = " given the filtering" if filtering is not None else ""
            raise KeyError(f"Found no values matching {key!r}{given} in the tree")
    keys = tuple(kwargs)

    def accepted(path: tuple, value: Any) -> bool:
        return filtering is None or filtering(path, value)

    def rebuild(node: Any, path: tuple) -> Any:
        if _is_named_tuple(node) and type(node).__name__ in kwargs and accepted(path, node):
            return kwargs[type(node).__name__]
        children = _children(node, path)
        if not children:
            return node
        new = []
        for child_path, child in children:
            name = _entry_name(child_path[-1])
            holds = _has_any(node, keys) and name in kwargs and accepted(child_path, child)
            new.append(kwargs[name] if holds else rebuild(child, child_path))
        if _is_named_tuple(node):
            return node._make(new)
        if isinstance(node, dict):
            return dict(zip(node.keys(), new, strict=True))
        return jax.tree.structure(node, is_leaf=lambda x: x is not node).unflatten(new)

    return rebuild(tree, ())


def _entry_name(entry: Any) -> Any:
    for attribute in ("name", "key", "idx"):
        if hasattr(entry, attribute):
            return getattr(entry, attribute)
    raise KeyError(f"path entry {entry!r} of type {type(entry).__name__} is not supported")


@jax.tree_util.register_pytree_node_class
class _Params:
    """Stands for the params when an optimizer is initialised by `map_params`: the parts of
    the state built from it are the parts shaped like the params."""

    def tree_flatten(self):
        return (), None

    @classmethod
    def tree_unflatten(cls, aux, children):
        return cls()


def map_params(initable: Any, f: Callable[..., Any], state: Any, /, *rest: Any,
               transform_non_params: Callable[..., Any] | None = None,
               is_leaf: Callable[[Any], bool] | None = None) -> Any:
    """`f` applied leaf by leaf (with the matching leaves of `rest`) to the parts of `state`
    that are trees like the params (moments, not counts), found by initialising `initable`
    (an optimizer or its `init`) on a placeholder for the params; other leaves go through
    `transform_non_params` when given and stay as they are otherwise. Works for optimizers
    whose `init` builds its trees with tree maps over the params."""
    init = initable.init if hasattr(initable, "init") else initable
    skeleton = init(_Params())

    def one(marker, value):
        if isinstance(marker, _Params):
            return jax.tree.map(f, value, *rest, is_leaf=is_leaf)
        return transform_non_params(value) if transform_non_params is not None else value

    return jax.tree.map(one, skeleton, state, is_leaf=lambda x: isinstance(x, _Params))
