"""Freezing parameters by a mask: `freeze` zeroes their updates, `selective_transform` also
keeps the optimizer's state away from them. As optax's (`optax.transforms._freezing`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax

from optim._core.base import GradientTransformation, Params
from optim._core.masks import check_mask, is_function
from optim._core.structure import as_transform
from optim.wrappers.partition import masked, partition, set_to_zero


def freeze(mask: Any | Callable[[Params], Any]) -> GradientTransformation:
    """`u <- 0` on the leaves where `mask` is True, the others unchanged:
    `masked(set_to_zero(), mask)`.

    `mask` is True/False (all or nothing), a tree of booleans with the params' structure (or a
    prefix of it), or a function `params -> mask`. The updates pass through a chain's earlier
    transforms before they are zeroed, so an optimizer before `freeze` still keeps (and
    advances) state for the frozen leaves; `selective_transform` does not.
    """
    check_mask(mask)
    return masked(set_to_zero(), mask)


def selective_transform(
    optimizer: GradientTransformation, *, freeze_mask: Any | Callable[[Params], Any]
) -> GradientTransformation:
    """`optimizer` on the leaves where `freeze_mask` is False, `set_to_zero()` where it is True:
    `partition({"train": optimizer, "freeze": set_to_zero()}, labels)`.

    The optimizer holds no state for the frozen leaves. `freeze_mask` as `freeze`'s mask.
    """
    optimizer = as_transform(optimizer, "selective_transform's optimizer")
    check_mask(freeze_mask, "freeze_mask")

    def label(frozen: Any) -> str:
        if not isinstance(frozen, bool) and not hasattr(frozen, "dtype"):
            raise TypeError(f"freeze_mask leaves must be booleans, got {frozen!r}")
        return "freeze" if bool(frozen) else "train"

    def labels(params: Params) -> Any:
        mask = freeze_mask(params) if is_function(freeze_mask) else freeze_mask
        return jax.tree.map(label, mask)

    return partition({"train": optimizer, "freeze": set_to_zero()}, param_labels=labels)
