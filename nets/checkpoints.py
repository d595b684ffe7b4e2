"""Checkpoints: pytrees written by orbax-checkpoint, read back into a template, checked.

    nets.save_checkpoint("run/step_1000", {"params": params, "opt_state": opt_state})
    state = nets.restore_checkpoint("run/step_1000", like={"params": params,
                                                           "opt_state": opt_state})

orbax writes each checkpoint into a temporary directory and renames it when every file is
written, so a checkpoint on disk is complete or absent: a process killed while it saves leaves
the previous checkpoints intact and, at most, a temporary directory that is ignored.

A tree is stored as its flat list of leaves plus a layout (each leaf's path, shape and dtype).
Restoring rebuilds the template's structure (NamedTuples, dataclasses, optax states) from the
template itself, after checking the layout against it leaf by leaf: a checkpoint of another
model or optimizer fails with the first path that differs, not deep inside orbax. Leaves that
orbax cannot store directly are handled here: typed PRNG keys (as their key data), zero-size
arrays (from the layout alone) and weakly typed scalars (given back weakly typed, so a restored
state compiles to the program the original did).

`RunCheckpoints` is a directory of numbered checkpoints (orbax's `CheckpointManager`): what
`nets.fit` and `nets.sweep` write with `checkpoint_dir=`, keeping the last `keep`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

_FORMAT = 1


def _is_key(x: Any) -> bool:
    return isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def _describe(leaf: Any) -> dict[str, Any]:
    if _is_key(leaf):
        data = jax.random.key_data(leaf)
        return {"shape": list(leaf.shape), "dtype": "key", "impl": str(jax.random.key_impl(leaf)),
                "data_shape": list(data.shape)}
    if _is_number(leaf):  # as weak as a weakly typed array: its dtype follows the context
        return {"shape": [], "dtype": str(np.asarray(leaf).dtype), "weak": True}
    value = leaf if hasattr(leaf, "dtype") and hasattr(leaf, "shape") else np.asarray(leaf)
    weak = bool(getattr(value, "weak_type", False))
    return {"shape": list(value.shape), "dtype": str(np.dtype(value.dtype)), "weak": weak}


def _is_number(leaf: Any) -> bool:
    return isinstance(leaf, bool | int | float | complex) and not isinstance(leaf, np.generic)


def _same_dtype(have: dict, want: dict) -> bool:
    """Equal dtypes; for a Python number or weakly typed leaf on either side, the same kind
    (an int saved is an int32 or int64 restored, whichever the template's context makes it)."""
    if have["dtype"] == want["dtype"]:
        return True
    if "key" in (have["dtype"], want["dtype"]) or not (have.get("weak") or want.get("weak")):
        return False
    return np.dtype(have["dtype"]).kind == np.dtype(want["dtype"]).kind


def _layout(tree: Any) -> tuple[list[Any], list[dict[str, Any]]]:
    """The leaves of `tree` and their description: path, shape, dtype."""
    with_paths, _ = jax.tree_util.tree_flatten_with_path(tree)
    leaves, described = [], []
    for path, leaf in with_paths:
        entry = _describe(leaf)
        entry["path"] = jax.tree_util.keystr(path)
        leaves.append(leaf)
        described.append(entry)
    return leaves, described


def _storable(leaf: Any) -> Any:
    """What orbax is given for a leaf: an array on one device is copied to the host first
    (half the cost of orbax's device path, and the copy is made before `save` returns, so the
    caller may donate the buffer); a sharded array goes as it is, each shard written by the
    process holding it."""
    if _is_key(leaf):
        leaf = jax.random.key_data(leaf)
    if isinstance(leaf, jax.Array):
        return np.asarray(leaf) if len(leaf.sharding.device_set) == 1 else leaf
    if isinstance(leaf, np.ndarray | np.generic):
        return leaf
    return np.asarray(leaf)


def _arrays(leaves: list[Any]) -> dict[str, Any]:
    """The leaves orbax stores, by position; zero-size ones are rebuilt from the layout."""
    return {f"{i:06d}": _storable(leaf) for i, leaf in enumerate(leaves) if np.size(leaf) > 0}


def _abstract(template_leaf: Any, entry: dict[str, Any]) -> Any:
    """What orbax should restore a stored leaf as: a NumPy array for a NumPy template or a
    number, a jax array (with the template's sharding, if any) otherwise."""
    if entry["dtype"] == "key":
        shape, dtype = tuple(entry["data_shape"]), np.dtype(np.uint32)
    else:
        shape, dtype = tuple(entry["shape"]), np.dtype(entry["dtype"])
    loose = entry.get("weak") or getattr(template_leaf, "weak_type", False)
    if loose or isinstance(template_leaf, np.ndarray | np.generic) or _is_number(template_leaf):
        return np.zeros(shape, dtype)  # read on the host, then given the template's type
    sharding = getattr(template_leaf, "sharding", None)
    if entry["dtype"] == "key" or not isinstance(sharding, jax.sharding.Sharding):
        sharding = None
    return jax.ShapeDtypeStruct(shape, dtype, sharding=sharding)


def _as_template(stored: Any, template_leaf: Any, entry: dict[str, Any]) -> Any:
    """A restored leaf in the template leaf's type."""
    if entry["dtype"] == "key":
        impl = jax.random.key_impl(template_leaf)
        return jax.random.wrap_key_data(jnp.asarray(stored), impl=impl)
    if _is_number(template_leaf):
        return type(template_leaf)(np.asarray(stored).item())
    if getattr(template_leaf, "weak_type", False):
        return _weakly_typed(np.asarray(stored))
    if isinstance(template_leaf, np.generic):
        return np.asarray(stored, template_leaf.dtype)[()]
    if isinstance(template_leaf, np.ndarray):
        return np.asarray(stored, template_leaf.dtype)
    return jnp.asarray(stored, template_leaf.dtype)


def _weakly_typed(value: np.ndarray) -> jax.Array:
    """`value` as a weakly typed array, as Python numbers turned into arrays (an injected
    hyperparameter, say) are, so it promotes as before and the restored state compiles to the
    same program. Built from Python numbers since jax offers no public cast to a weak type."""
    numbers = [jnp.asarray(number) for number in value.ravel().tolist()]
    if not numbers:
        return jnp.asarray(value)
    return jnp.stack(numbers).reshape(value.shape)


def _zero_size(template_leaf: Any, entry: dict[str, Any]) -> Any:
    value = np.zeros(tuple(entry["shape"]), np.dtype(entry["dtype"]))
    return value if isinstance(template_leaf, np.ndarray) else jnp.asarray(value)


def _mismatch(saved: list[dict], wanted: list[dict]) -> str | None:
    """The first difference between a checkpoint's layout and a template's, said."""
    for have, want in zip(saved, wanted, strict=False):
        if have["path"] != want["path"]:
            return (f"it has a leaf at {have['path'] or '<root>'} where the template has "
                    f"{want['path'] or '<root>'}")
        for field, same in (("shape", have["shape"] == want["shape"]),
                            ("dtype", _same_dtype(have, want))):
            if not same:
                return (f"at {have['path'] or '<root>'} it holds {field} {_said(have[field])}, "
                        f"the template {_said(want[field])}")
    if len(saved) != len(wanted):
        longer, which = (saved, "checkpoint") if len(saved) > len(wanted) else (wanted, "template")
        first = longer[min(len(saved), len(wanted))]["path"] or "<root>"
        return (f"it holds {len(saved)} leaves, the template {len(wanted)}; the first only the "
                f"{which} has is at {first}")
    return None


def _said(value: Any) -> str:
    return f"({', '.join(map(str, value))})" if isinstance(value, list) else str(value)


def _checked(path: Path, layout: dict, like: Any, what: str) -> tuple[list, list[dict], Any]:
    if layout.get("format") != _FORMAT:
        raise ValueError(f"{path} is not a checkpoint this version of descent can read "
                         f"(format {layout.get('format')!r}, expected {_FORMAT})")
    template_leaves, wanted = _layout(like)
    problem = _mismatch(layout["leaves"], wanted)
    if problem is not None:
        raise ValueError(f"the checkpoint at {path} does not match {what}: {problem}")
    return template_leaves, layout["leaves"], jax.tree.structure(like)


def _save_args(tree: Any, meta: dict[str, Any] | None) -> ocp.args.Composite:
    leaves, described = _layout(tree)
    layout = {"format": _FORMAT, "leaves": described, "meta": meta or {}}
    items = {"layout": ocp.args.JsonSave(layout)}
    arrays = _arrays(leaves)
    if arrays:  # orbax stores no empty tree
        items["arrays"] = ocp.args.StandardSave(arrays)
    return ocp.args.Composite(**items)


def _rebuild(restore_item, path: Path, like: Any, what: str) -> tuple[Any, dict[str, Any]]:
    """Read the layout, check it against `like`, then read the arrays into `like`'s types.
    `restore_item(args)` restores a Composite of the given item args."""
    layout = restore_item(ocp.args.Composite(layout=ocp.args.JsonRestore()))["layout"]
    template_leaves, entries, treedef = _checked(path, layout, like, what)
    wanted = {f"{i:06d}": _abstract(leaf, entry)
              for i, (leaf, entry) in enumerate(zip(template_leaves, entries, strict=True))
              if int(np.prod(entry["shape"], dtype=np.int64)) > 0}
    stored = {}
    if wanted:
        stored = restore_item(ocp.args.Composite(arrays=ocp.args.StandardRestore(wanted)))["arrays"]
    leaves = []
    for i, (leaf, entry) in enumerate(zip(template_leaves, entries, strict=True)):
        name = f"{i:06d}"
        leaves.append(_as_template(stored[name], leaf, entry) if name in stored
                      else _zero_size(leaf, entry))
    return jax.tree.unflatten(treedef, leaves), layout.get("meta", {})


def _path(path: str | os.PathLike, argument: str = "path") -> Path:
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"{argument} must be a path (str or os.PathLike), got "
                        f"{type(path).__name__}")
    return Path(path).expanduser().absolute()


def save_checkpoint(path: str | os.PathLike, tree: Any, *, overwrite: bool = False) -> Path:
    """Write `tree` (any pytree of arrays and numbers) to the directory `path`, atomically.

    Returns the absolute path. An existing `path` raises `FileExistsError` unless
    `overwrite=True`, which replaces it (the old one stays until the new one is complete).
    """
    target = _path(path)
    if not isinstance(overwrite, bool):
        raise TypeError(f"overwrite must be True or False, got {overwrite!r}")
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} exists; pass overwrite=True to replace it")
    with ocp.Checkpointer(ocp.CompositeCheckpointHandler()) as checkpointer:
        checkpointer.save(target, args=_save_args(tree, None), force=overwrite)
    return target


def restore_checkpoint(path: str | os.PathLike, like: Any) -> Any:
    """The tree saved at `path`, rebuilt into the structure and types of the template `like`
    (arrays, `jax.ShapeDtypeStruct`s or numbers: e.g. `optimizer.init(params)`).

    Raises `FileNotFoundError` when there is no complete checkpoint at `path`, and
    `ValueError` naming the first path whose structure, shape or dtype differs from `like`.
    Jax-array leaves are restored onto the template leaf's sharding.
    """
    source = _path(path)
    if not (source / "layout").is_dir():
        raise FileNotFoundError(f"no complete checkpoint at {source}")
    with ocp.Checkpointer(ocp.CompositeCheckpointHandler()) as checkpointer:
        tree, _ = _rebuild(lambda args: checkpointer.restore(source, args=args), source, like,
                           "the template (like=)")
    return tree


class RunCheckpoints:
    """A directory of numbered checkpoints of one run, the last `keep` of them kept.

    `save(number, tree, meta)` writes in the background (the arrays are copied off the device
    before it returns, so the caller may donate them); `latest()` is the highest number whose
    checkpoint is complete; `restore(number, like)` gives `(tree, meta)`. Use as a context
    manager, or `close()`, which waits for the last write.
    """

    def __init__(self, directory: str | os.PathLike, *, keep: int | None):
        self.directory = _path(directory, "checkpoint_dir")
        if self.directory.exists() and not self.directory.is_dir():
            raise NotADirectoryError(f"checkpoint_dir {self.directory} is a file")
        options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True,
                                               cleanup_tmp_directories=True)
        self._manager = ocp.CheckpointManager(self.directory, options=options)

    def latest(self) -> int | None:
        return self._manager.latest_step()

    def numbers(self) -> list[int]:
        return sorted(self._manager.all_steps())

    def save(self, number: int, tree: Any, meta: dict[str, Any]) -> None:
        self._manager.save(int(number), args=_save_args(tree, meta), force=True)

    def restore(self, number: int, like: Any, what: str = "the template") -> tuple[Any, dict]:
        """`(tree, meta)` of checkpoint `number`, checked against `like` (called `what` in
        the error)."""
        where = self.directory / str(number)
        return _rebuild(lambda args: self._manager.restore(int(number), args=args), where, like,
                        what)

    def meta(self, number: int) -> dict[str, Any]:
        """The JSON record saved with checkpoint `number`."""
        args = ocp.args.Composite(layout=ocp.args.JsonRestore())
        return self._manager.restore(int(number), args=args)["layout"].get("meta", {})

    def close(self) -> None:
        self._manager.wait_until_finished()
        self._manager.close()

    def __enter__(self) -> RunCheckpoints:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
