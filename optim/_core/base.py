"""The types every transform shares: the `GradientTransformation` pair and its aliases.

A gradient transformation is a pair of pure functions, compatible with optax's:

    state = tx.init(params)
    updates, state = tx.update(grads, state, params=None, **extra)

`extra` carries keyword values that only some transforms need (`value=` for
reduce-on-plateau, `value_fn=` for line searches); every transform of this library accepts
and ignores the ones it does not use, and `chain` forwards them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

import jax
from jax.typing import ArrayLike

from optim._core.structure import check_same_structure

Params = Any
"""A pytree of float arrays: the parameters being optimized."""
Updates = Any
"""A pytree with the structure of the params: gradients in, updates out."""
OptState = Any
"""A pytree of arrays (usually NamedTuples) holding an optimizer's state."""
Schedule = Callable[[jax.Array], jax.Array]
"""A pure function `step -> value`."""
ScalarOrSchedule = float | ArrayLike | Schedule
"""A hyperparameter given either as a number or as a schedule of the step count."""


class TransformInitFn(Protocol):
    def __call__(self, params: Params) -> OptState: ...


class TransformUpdateFn(Protocol):
    def __call__(
        self, updates: Updates, state: OptState, params: Params | None = None, **extra: Any
    ) -> tuple[Updates, OptState]: ...


class TransformUpdateExtraArgsFn(Protocol):
    """An `update` that takes keyword extras (`value=`, `value_fn=`, ...): optax's name for
    what every `update` of this library is."""

    def __call__(
        self, updates: Updates, state: OptState, params: Params | None = None, **extra_args: Any
    ) -> tuple[Updates, OptState]: ...


class GradientTransformation(NamedTuple):
    """A pure `(init, update)` pair.

    `init(params) -> state` builds the state for a pytree of params;
    `update(updates, state, params=None, **extra) -> (updates, new_state)` transforms the
    incoming gradients. Both are pure and jit-, vmap- and shard-safe.
    """

    init: TransformInitFn
    update: TransformUpdateFn


class GradientTransformationExtraArgs(GradientTransformation):
    """A `GradientTransformation` whose `update` takes keyword extras, as optax's class of that
    name; the same pair (every transform of this library accepts extras already).

    Both ways with optax, it is the pair that counts: an optax transform (with or without extras)
    works in `optim.chain` as it is, and `optax.GradientTransformationExtraArgs(*tx)` hands one
    of ours to `optax.chain` with its extras forwarded (optax forwards them only to instances of
    its own class).
    """

    __slots__ = ()


class ElementwiseTransformation(GradientTransformation):
    """A transformation declared elementwise: the same rule for every entry of every leaf,
    with nothing but scalars shared between entries (hyperparameters, counts, a global norm).

    Such a transform gives the same numbers on a tree and on one flat buffer holding the same
    entries, so `optim.fused` runs it on flat buffers without checking it. The building
    blocks that work entry by entry return one; `chain`s of them, and wrappers around them
    that add only scalar state (`inject_hyperparams`, `MultiSteps`, `apply_if_finite`,
    `lookahead`, ...), are elementwise too. Declare a transform of your own with
    `elementwise(tx)`.
    """

    __slots__ = ()


def elementwise(tx: GradientTransformation) -> ElementwiseTransformation:
    """Declare `tx` elementwise (see `ElementwiseTransformation`); a promise, not a check."""
    return ElementwiseTransformation(tx.init, tx.update)


def is_elementwise(tx: Any) -> bool:
    """True for a transform declared elementwise (or an object whose `elementwise` is True)."""
    return isinstance(tx, ElementwiseTransformation) or getattr(tx, "elementwise", False) is True


def elementwise_if(condition: bool, tx: GradientTransformation) -> GradientTransformation:
    """`tx`, declared elementwise when `condition` holds (a wrapper around an elementwise
    inner transform, say), else as it is."""
    return elementwise(tx) if condition else tx


class EmptyState(NamedTuple):
    """The state of a transform that keeps none."""


def apply_updates(params: Params, updates: Updates) -> Params:
    """`params + updates`, leaf by leaf, each result cast back to its param's dtype.

    The sum is taken in the promoted dtype (a bfloat16 param plus a float32 update is added in
    float32) and rounded once, so low-precision params lose no more than one rounding per step.
    """
    check_same_structure(params, updates, "params", "updates")
    for (path, p), u in zip(jax.tree_util.tree_leaves_with_path(params), jax.tree.leaves(updates),
                            strict=True):
        p_dtype, u_dtype = jax.numpy.result_type(p), jax.numpy.result_type(u)
        if jax.numpy.issubdtype(u_dtype, jax.numpy.complexfloating) and not jax.numpy.issubdtype(
                p_dtype, jax.numpy.complexfloating):
            raise TypeError(
                f"a complex update for a real param would lose its imaginary part: the leaf at "
                f"{jax.tree_util.keystr(path) or '<root>'} is {p_dtype}, its update {u_dtype}"
            )
    return jax.tree.map(
        lambda p, u: jax.numpy.asarray(p + u).astype(jax.numpy.result_type(p)), params, updates
    )
