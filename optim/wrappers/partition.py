"""Per-parameter groups: `partition` (one transform per label; optax's `multi_transform` is
the same function), `masked`, and `set_to_zero`.

Each group's transform sees the params with the other groups' leaves replaced by `MaskedNode`,
an empty pytree node: it holds no state for them (a frozen group costs no memory at all) and
its update never touches them. Labels and masks are chosen when the step is traced, so their
leaves are Python values (strings, booleans), never arrays.

    tx = optim.partition(
        {"train": optim.adam(1e-3), "frozen": optim.set_to_zero()},
        param_labels={"encoder": "frozen", "head": "train"},   # a prefix of the params
    )
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from typing import Any, NamedTuple

import jax

from _descent import validation
from optim._core.base import EmptyState, GradientTransformation, Params, elementwise
from optim._core.combine import call_update
from optim._core.masks import check_mask, is_function, resolve, resolve_mask
from optim._core.structure import as_transform, check_state
from optim.tree import tree_zeros_like


class MaskedNode(NamedTuple):
    """Stands for a leaf a group does not own: an empty node, so it holds no state."""


def _is_masked(x: Any) -> bool:
    return isinstance(x, MaskedNode)


def _mask_tree(tree: Any, keep: list[bool]) -> Any:
    """`tree` with the leaves where `keep` is False replaced by `MaskedNode()`."""
    leaves, treedef = jax.tree.flatten(tree)
    return treedef.unflatten([x if k else MaskedNode() for x, k in zip(leaves, keep, strict=True)])


def _merge(treedef: Any, parts: list[tuple[Any, list[bool]]], default: list) -> Any:
    """Rebuild a tree of `treedef` taking each leaf from the part that owns it."""
    leaves = list(default)
    for tree, keep in parts:
        # Up to the updates' own structure: a leaf this part does not own is a MaskedNode there
        # (while MaskedNodes already in the updates, from an enclosing partition, stay nodes).
        part_leaves = treedef.flatten_up_to(tree)
        for i, (leaf, k) in enumerate(zip(part_leaves, keep, strict=True)):
            if k:
                leaves[i] = leaf
    return treedef.unflatten(leaves)


class PartitionState(NamedTuple):
    inner_states: dict[Hashable, Any]


def _mask_extras(extra: dict, treedef: Any, keep: list[bool]) -> dict:
    """The extras with the updates' tree structure, masked like them (optax's
    `mask_compatible_extra_args`); the others as they are."""
    return {
        k: _mask_tree(v, keep) if jax.tree.structure(v) == treedef else v
        for k, v in extra.items()
    }


def partition(
    transforms: Mapping[Hashable, GradientTransformation],
    param_labels: Any | Callable[[Params], Any],
    *,
    mask_compatible_extra_args: bool = False,
) -> GradientTransformation:
    """Apply a different transform to each group of parameters.

    `param_labels` is a tree of labels with the params' structure (or a prefix of it), or a
    function `params -> labels`; every label must be a key of `transforms`. Each transform is
    initialised and updated on its own leaves only (the others are `MaskedNode`), so a group
    given `set_to_zero()` is frozen and holds no state, and Adam's moments exist only for the
    leaves Adam trains. The same as optax's `partition` and `multi_transform` (one function
    under both names, its state `PartitionState`, alias `MultiTransformState`); keyword extras
    such as `value=` reach every group that accepts them, and with
    `mask_compatible_extra_args=True` an extra with the updates' tree structure reaches each
    group masked like its updates. Labels given as a tree are checked when this is built.
    """
    if not isinstance(transforms, Mapping) or not transforms:
        raise TypeError(f"transforms must be a non-empty dict label -> transform, got {transforms}")
    transforms = {k: as_transform(t, f"transforms[{k!r}]") for k, t in transforms.items()}
    validation.boolean("mask_compatible_extra_args", mask_compatible_extra_args)

    def check_labels(labels: list) -> list:
        unknown = sorted({repr(label) for label in labels if label not in transforms})
        if unknown:
            raise ValueError(
                f"param_labels uses labels {', '.join(unknown)} that have no transform; "
                f"transforms are given for {sorted(map(repr, transforms))}"
            )
        return labels

    def labels_of(tree: Any) -> list:
        return check_labels(resolve(param_labels, tree, "param_labels"))

    if not is_function(param_labels):
        check_labels(jax.tree.leaves(param_labels))

    def init(params):
        labels = labels_of(params)
        return PartitionState(
            {
                name: tx.init(_mask_tree(params, [label == name for label in labels]))
                for name, tx in transforms.items()
            }
        )

    def update(updates, state, params=None, **extra):
        check_state(state, PartitionState, "partition")
        labels = labels_of(updates if params is None else params)
        leaves, treedef = jax.tree.flatten(updates)
        if len(leaves) != len(labels):
            raise ValueError(
                f"updates have {len(leaves)} leaves but param_labels labels {len(labels)}"
            )
        parts, new_states = [], {}
        for name, tx in transforms.items():
            keep = [label == name for label in labels]
            masked_params = None if params is None else _mask_tree(params, keep)
            group_extra = _mask_extras(extra, treedef, keep) if mask_compatible_extra_args else (
                extra)
            out, new_states[name] = call_update(
                tx, _mask_tree(updates, keep), state.inner_states[name], masked_params, group_extra
            )
            parts.append((out, keep))
        return _merge(treedef, parts, leaves), PartitionState(new_states)

    return GradientTransformation(init, update)


multi_transform = partition
MultiTransformState = PartitionState


class MaskedState(NamedTuple):
    inner_state: Any


def masked(
    inner: GradientTransformation, mask: Any | Callable[[Params], Any], *,
    mask_compatible_extra_args: bool = False,
) -> GradientTransformation:
    """Apply `inner` to the leaves where `mask` is True; pass the others through unchanged.

    `mask` is a tree of Python booleans with the params' structure (or a prefix of it), or a
    function `params -> mask`. `inner` sees and keeps state for the masked-in leaves only, so a
    non-float leaf (an integer step, say) can be left out of an optimizer this way. With
    `mask_compatible_extra_args=True` an extra argument with the updates' tree structure is
    masked like them before `inner` sees it. As optax.
    """
    inner = as_transform(inner, "masked's inner")
    check_mask(mask)
    validation.boolean("mask_compatible_extra_args", mask_compatible_extra_args)

    def keep_of(tree: Any) -> list[bool]:
        return resolve_mask(mask, tree)

    def init(params):
        return MaskedState(inner.init(_mask_tree(params, keep_of(params))))

    def update(updates, state, params=None, **extra):
        check_state(state, MaskedState, "masked")
        keep = keep_of(updates if params is None else params)
        leaves, treedef = jax.tree.flatten(updates)
        masked_params = None if params is None else _mask_tree(params, keep)
        inner_extra = _mask_extras(extra, treedef, keep) if mask_compatible_extra_args else extra
        out, inner_state = call_update(
            inner, _mask_tree(updates, keep), state.inner_state, masked_params, inner_extra
        )
        return _merge(treedef, [(out, keep)], leaves), MaskedState(inner_state)

    return GradientTransformation(init, update)


def set_to_zero() -> GradientTransformation:
    """`u <- 0`: freezes the leaves it is given (typically one group of `partition`).

    Keeps no state, so a frozen group costs no optimizer memory.
    """

    def update(updates, state, params=None, **extra):
        return tree_zeros_like(updates), state

    return elementwise(GradientTransformation(lambda params: EmptyState(), update))
