"""Checks of what a transform is given: tree structures, shapes, float params, the params.

Each error names both sides (or the leaf) so that a mismatch reads as the mistake it is. The
checks run in Python when a step is traced and cost nothing at run time.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp


class ParamsRequiredError(TypeError, ValueError):
    """`update` was called without the `params` a transform needs (weight decay, trust
    ratios, averaging, line searches, ...). A TypeError, as for a missing argument, and a
    ValueError, as it was first raised."""


def require_params(params: Any, who: str) -> None:
    """Raise `ParamsRequiredError` naming `who` when `params` is None."""
    if params is None:
        raise ParamsRequiredError(f"{who} needs the params: call update(grads, state, params)")


def describe(tree: Any) -> str:
    """A tree's structure and its first leaves' paths, dtypes and shapes, for error messages."""
    leaves = jax.tree_util.tree_leaves_with_path(tree)
    shown = ", ".join(
        f"{jax.tree_util.keystr(path) or '<root>'}: {getattr(leaf, 'dtype', type(leaf).__name__)}"
        f"{list(getattr(leaf, 'shape', ()))}"
        for path, leaf in leaves[:6]
    )
    more = f", ... ({len(leaves)} leaves)" if len(leaves) > 6 else ""
    return f"{jax.tree_util.tree_structure(tree)} [{shown}{more}]"


def check_same_structure(
    a: Any, b: Any, a_name: str, b_name: str, *, shapes: bool = True
) -> None:
    """Raise a ValueError naming both sides if `a` and `b` differ in tree structure or shapes."""
    struct_a = jax.tree_util.tree_structure(a)
    struct_b = jax.tree_util.tree_structure(b)
    if struct_a != struct_b:
        raise ValueError(
            f"{a_name} and {b_name} have different tree structures:\n"
            f"  {a_name}: {describe(a)}\n  {b_name}: {describe(b)}"
        )
    if not shapes:
        return
    for (path, leaf_a), leaf_b in zip(
        jax.tree_util.tree_leaves_with_path(a), jax.tree_util.tree_leaves(b), strict=True
    ):
        shape_a, shape_b = jnp.shape(leaf_a), jnp.shape(leaf_b)
        if shape_a != shape_b:
            raise ValueError(
                f"{a_name} and {b_name} differ in shape at {jax.tree_util.keystr(path)}: "
                f"{a_name} has {shape_a}, {b_name} has {shape_b}"
            )


def _kind(dtype: Any) -> str:
    if jnp.issubdtype(dtype, jnp.complexfloating):
        return "complex"
    if jnp.issubdtype(dtype, jnp.floating):
        return "real"
    return "other"


def check_update_dtypes(updates: Any, reference: Any = None, reference_name: str = "params"
                        ) -> None:
    """Raise a TypeError naming the leaf and both dtypes when an update is not a floating
    array (an integer gradient rounds every step to 0), or is complex where the matching
    `reference` leaf (a param, or the state kept for it) is real (its imaginary part would be
    dropped). Without a reference only integer and boolean updates are refused."""
    references = jax.tree.leaves(reference) if reference is not None else None
    if references is not None and len(references) != len(jax.tree.leaves(updates)):
        references = None  # not the updates' tree: its structure is another check's business
    for i, (path, leaf) in enumerate(jax.tree_util.tree_leaves_with_path(updates)):
        dtype = jnp.result_type(leaf)
        kind = _kind(dtype)
        ref_dtype = None if references is None else jnp.result_type(references[i])
        if kind == "real" or (kind == "complex" and (ref_dtype is None or _kind(ref_dtype) ==
                                                     "complex")):
            continue
        where = jax.tree_util.keystr(path) or "<root>"
        against = "" if ref_dtype is None else f" and the {reference_name} leaf {ref_dtype}"
        why = ("a complex gradient of a real param would lose its imaginary part"
               if kind == "complex" else "an integer or boolean gradient rounds every step to 0")
        raise TypeError(f"updates must be floating-point arrays: the leaf at {where} has dtype "
                        f"{dtype}{against}; {why}. Cast the gradients to the params' dtype.")


def check_updates(updates: Any, reference: Any, reference_name: str) -> None:
    """`updates` match `reference` (a state's moments, or the params) in structure and shapes,
    and are floating arrays (complex only where the reference is)."""
    check_same_structure(updates, reference, "updates", reference_name)
    check_update_dtypes(updates, reference, reference_name)


def check_float_params(params: Any) -> None:
    """Raise a TypeError naming the first leaf that is not a floating-point array, real or
    complex (the transforms that take real params only say so themselves: `check_real`)."""
    for path, leaf in jax.tree_util.tree_leaves_with_path(params):
        dtype = jnp.result_type(leaf)
        if not jnp.issubdtype(dtype, jnp.inexact):
            raise TypeError(
                f"params must be floating-point arrays (real or complex); the leaf at "
                f"{jax.tree_util.keystr(path) or '<root>'} has dtype {dtype}. "
                "Cast it (e.g. jnp.asarray(x, jnp.float32)) or exclude it with optim.masked."
            )


def check_real(tree: Any, who: str, what: str = "params",
               why: str = "It compares signs or magnitudes, which complex numbers do not have"
               ) -> None:
    """Raise a TypeError naming `who`, the first complex leaf of `tree` and `why`: for the
    methods that compare signs or magnitudes of entries (sign descent, Rprop, Lion, adaptive
    gains) or of steps along a line (line searches, quasi-Newton curvature), which complex
    numbers, having no order, do not give, and those not defined for complex numbers."""
    for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
        dtype = jnp.result_type(leaf)
        if jnp.issubdtype(dtype, jnp.complexfloating):
            raise TypeError(
                f"{who} takes real {what} only: the leaf at "
                f"{jax.tree_util.keystr(path) or '<root>'} has dtype {dtype}. {why}; wrap it "
                "in optim.contrib.split_real_and_imaginary to optimize the real and imaginary "
                "parts as real params."
            )


def check_state(state: Any, expected: type, who: str) -> None:
    """Raise a TypeError when `state` is not the `expected` state type of `who`'s init (the
    state of another optimizer, or of another part of a chain, or None)."""
    if not isinstance(state, expected):
        raise TypeError(
            f"{who}'s update got a state of type {type(state).__name__}; it needs the "
            f"{expected.__name__} that {who}'s init returns. Pass the state the same "
            "transform's init built (in a chain, the whole chain's state)."
        )


def as_transform(tx: Any, where: str) -> Any:
    """`tx` itself if it has `init` and `update`; else a TypeError naming `where` it was given."""
    if not (hasattr(tx, "init") and hasattr(tx, "update")):
        raise TypeError(f"{where} must be a GradientTransformation (init, update), got {tx!r}")
    return tx
