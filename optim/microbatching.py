"""Microbatching, as optax's `optax.microbatching`: a function of a batch evaluated on
microbatches one after another (a `lax.fori_loop`), its outputs combined, so that the peak
memory is one microbatch's.

    microbatch(fun, argnums, microbatch_size, accumulator=SUM)   fun on the whole batch, in parts
    micro_vmap(fun, in_axes, microbatch_size=...)                jax.vmap, in parts
    micro_grad(fun, argnums, batch_argnums=1, ...)               per-example gradients, combined
    reshape_batch_axis(tree, microbatch_size, axis)              (B, ...) -> (B / m, m, ...)
    AccumulationType.SUM / MEAN / RUNNING_MEAN / CONCAT, or an `Accumulator` of your own

Microbatch `i` holds the rows `i, i + k, i + 2k, ...` of the batch (k microbatches: a
column-major reshape, so a sharded batch axis stays sharded within each microbatch); CONCAT
puts the rows back in their order.
"""

from __future__ import annotations

import collections
import dataclasses
import enum
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from _descent import validation


@dataclasses.dataclass(frozen=True)
class Accumulator:
    """How to combine the outputs `y_0, ..., y_{k-1}` of k microbatches:

        carry = init(shape_dtype_of(y_0));  carry = update(carry, y_i, i) for each i
        result = finalize(carry)

    `aggregate(stacked)` combines values stacked on a leading axis in one go (`micro_vmap`
    uses it within a microbatch). The functions act on one array or, for the built-in types,
    on a whole pytree.
    """

    init: Callable[[Any], Any]
    update: Callable[[Any, Any, Any], Any]
    finalize: Callable[[Any], Any]
    aggregate: Callable[[Any], Any]


class AccumulationType(enum.Enum):
    """The built-in ways to combine the microbatches' outputs."""

    MEAN = enum.auto()
    """The mean over the microbatches (floating-point outputs)."""
    SUM = enum.auto()
    """The sum over the microbatches."""
    RUNNING_MEAN = enum.auto()
    """The mean over the microbatches run (`num_real_microbatches` of them, if given)."""
    CONCAT = enum.auto()
    """The outputs concatenated along axis 0, in the rows' original order."""


def reshape_batch_axis(tree: Any, microbatch_size: int, axis: int = 0) -> Any:
    """Each leaf's batch axis `axis` of size B as two axes `(B / microbatch_size,
    microbatch_size)`, in column-major order: entry `[i, j]` is row `i + j B / microbatch_size`."""

    def split(x):
        shape = x.shape[:axis] + (-1, microbatch_size) + x.shape[axis + 1:]
        return jnp.reshape(x, shape, order="F")

    return jax.tree.map(split, tree)


def _per_leaf(init, update, finalize, aggregate) -> Accumulator:
    """An accumulator of whole pytrees from one of arrays, applied leaf by leaf."""
    return Accumulator(
        init=lambda value: jax.tree.map(init, value),
        update=lambda carry, value, i: jax.tree.map(lambda c, v: update(c, v, i), carry, value),
        finalize=lambda carry: jax.tree.map(finalize, carry),
        aggregate=lambda values: jax.tree.map(aggregate, values),
    )


def _floating_zeros(value) -> jax.Array:
    if not jnp.issubdtype(value.dtype, jnp.floating):
        raise ValueError(
            f"MEAN and RUNNING_MEAN accumulators need floating-point outputs, got {value.dtype}"
        )
    return jnp.zeros(value.shape, value.dtype)


def _builtin(kind: AccumulationType, num_microbatches: int) -> Accumulator:
    def add(carry, value, _):
        return carry + value

    def mean_at_axis0(x):
        return jnp.mean(x, axis=0)

    if kind is AccumulationType.SUM:
        def zeros(value):
            return jnp.zeros(value.shape, value.dtype)
        return _per_leaf(zeros, add, lambda c: c, lambda x: jnp.sum(x, axis=0))
    if kind is AccumulationType.MEAN:
        return _per_leaf(_floating_zeros, add, lambda c: c / num_microbatches, mean_at_axis0)
    if kind is AccumulationType.RUNNING_MEAN:
        def running(carry, value, i):
            # The mean of the first i + 1 outputs, whichever i the loop stops at.
            weight = i / (i + 1)
            return carry * weight + value * (1 - weight)
        return _per_leaf(_floating_zeros, running, lambda c: c, mean_at_axis0)

    def stacked(value):
        return jnp.zeros((num_microbatches,) + value.shape, value.dtype)

    def put(carry, value, i):
        return carry.at[i].set(value)

    def unstack(carry):
        # (k, m, ...) in column-major order is the inverse of `reshape_batch_axis`.
        return jnp.reshape(carry, (-1,) + carry.shape[2:], order="F")

    return _per_leaf(stacked, put, unstack, lambda x: x)


def _resolve(accumulator: Any, num_microbatches: int) -> Accumulator:
    """One accumulator from an `Accumulator`, an `AccumulationType`, or a pytree of them (a
    prefix of the output's structure)."""

    def one(leaf):
        if isinstance(leaf, Accumulator):
            return leaf
        if isinstance(leaf, AccumulationType):
            return _builtin(leaf, num_microbatches)
        raise ValueError(
            f"accumulator must be an Accumulator, an AccumulationType or a pytree of them, got "
            f"{leaf!r}"
        )

    is_leaf = lambda x: isinstance(x, (Accumulator, AccumulationType))  # noqa: E731
    tree = jax.tree.map(one, accumulator, is_leaf=is_leaf)
    if isinstance(tree, Accumulator):
        return tree

    def each(method):
        def run(*trees):
            return jax.tree.map(
                lambda acc, *xs: getattr(acc, method)(*xs), tree, *trees, is_leaf=is_leaf
            )
        return run

    def update(carry, value, i):
        return jax.tree.map(lambda acc, c, v: acc.update(c, v, i), tree, carry, value,
                            is_leaf=is_leaf)

    return Accumulator(each("init"), update, each("finalize"), each("aggregate"))


def _as_tuple(value: Any) -> tuple:
    return (value,) if isinstance(value, (int, str)) else tuple(value)


def microbatch(
    fun: Callable[..., Any],
    argnums: int | Sequence[int],
    microbatch_size: int | None,
    accumulator: Any = AccumulationType.SUM,
    *,
    argnames: str | Sequence[str] = (),
    in_axes: int | Sequence[int] = 0,
    num_real_microbatches: int | jax.Array | None = None,
) -> Callable[..., Any]:
    """`fun` evaluated on `B / microbatch_size` microbatches in turn, its outputs combined by
    `accumulator`, as optax's `microbatch`.

    The positional arguments `argnums` and keyword arguments `argnames` have a batch axis
    (`in_axes`: one axis for all, or one per argument in the order `argnums + argnames`) of
    the same size B, a multiple of `microbatch_size`; the other arguments are passed whole.
    `accumulator` is one of `AccumulationType` (SUM: `sum_i fun(batch_i)`, MEAN, RUNNING_MEAN,
    CONCAT), an `Accumulator`, or a pytree of them, a prefix of `fun`'s output. With
    `num_real_microbatches` only that many microbatches run (a traced count: no recompilation
    for a smaller batch padded to B). `microbatch_size=None` returns `fun` itself.
    """
    if microbatch_size is None:
        return fun
    microbatch_size = validation.integer("microbatch_size", microbatch_size, 1)
    argnums, argnames = _as_tuple(argnums), _as_tuple(argnames)
    count = len(argnums) + len(argnames)
    axes = (in_axes,) * count if isinstance(in_axes, int) else tuple(in_axes)
    if len(axes) != count:
        raise ValueError(
            f"in_axes must be one int or one per batch argument ({count}: argnums {argnums} "
            f"and argnames {argnames}), got {in_axes!r}"
        )
    slots = [(True, i) for i in argnums] + [(False, name) for name in argnames]

    def run(*args, **kwargs):
        args = list(args)
        batched = [args[key] if positional else kwargs[key] for positional, key in slots]
        sizes = {
            x.shape[axis]
            for tree, axis in zip(batched, axes, strict=True)
            for x in jax.tree.leaves(tree)
        }
        if len(sizes) != 1:
            raise ValueError(f"the batch arguments' batch axes must have one size, got {sizes}")
        (batch_size,) = sizes
        if batch_size % microbatch_size:
            raise ValueError(
                f"the batch size ({batch_size}) must be a multiple of microbatch_size "
                f"({microbatch_size})"
            )
        num_microbatches = batch_size // microbatch_size
        split = [
            reshape_batch_axis(tree, microbatch_size, axis)
            for tree, axis in zip(batched, axes, strict=True)
        ]
        acc = _resolve(accumulator, num_microbatches)

        def on_microbatch(i):
            call_args, call_kwargs = list(args), dict(kwargs)
            for (positional, key), tree, axis in zip(slots, split, axes, strict=True):
                part = jax.tree.map(lambda x, axis=axis: jnp.take(x, i, axis=axis), tree)
                if positional:
                    call_args[key] = part
                else:
                    call_kwargs[key] = part
            return fun(*call_args, **call_kwargs)

        carry = acc.init(jax.eval_shape(on_microbatch, 0))
        stop = num_microbatches if num_real_microbatches is None else num_real_microbatches
        carry = jax.lax.fori_loop(
            0, stop, lambda i, c: acc.update(c, on_microbatch(i), i), carry
        )
        return acc.finalize(carry)

    return run


def micro_vmap(
    fun: Callable[..., Any],
    in_axes: int | None | Sequence[int | None] = 0,
    out_axes: Any = 0,
    *,
    microbatch_size: int | None = None,
    vmap_fn: Callable = jax.vmap,
    accumulator: Any = AccumulationType.CONCAT,
    num_real_microbatches: int | jax.Array | None = None,
) -> Callable[..., Any]:
    """`jax.vmap(fun, in_axes)` computed `microbatch_size` rows at a time, as optax's
    `micro_vmap`: with CONCAT (default) the same result as `vmap`; SUM, MEAN or a pytree of
    accumulators reduce over the mapped axis instead of returning it. Keyword arguments are
    mapped over their leading axis (as `vmap` maps them); `out_axes` must be 0."""
    if out_axes != 0:
        raise NotImplementedError(f"micro_vmap supports out_axes=0 only, got {out_axes!r}")
    axes = (in_axes,) if in_axes is None or isinstance(in_axes, int) else tuple(in_axes)

    def mapped_and_reduced(*args, kwargs):
        outputs = vmap_fn(fun, axes, 0)(*args, **kwargs)
        rows = jax.tree.leaves(outputs)[0].shape[0]
        return _resolve(accumulator, rows).aggregate(outputs)

    batched = tuple(i for i, axis in enumerate(axes) if axis is not None)
    parts = microbatch(
        mapped_and_reduced,
        argnums=batched,
        microbatch_size=microbatch_size,
        accumulator=accumulator,
        argnames="kwargs",
        in_axes=tuple(axes[i] for i in batched) + (0,),
        num_real_microbatches=num_real_microbatches,
    )
    return lambda *args, **kwargs: parts(*args, kwargs=kwargs)


IndividualOutputs = collections.namedtuple("Aux", ["values", "metrics", "aux"])
"""`micro_grad`'s per-example outputs: `fun`'s values, `metrics_fn` of the gradients, `fun`'s
auxiliary output."""


def micro_grad(
    fun: Callable[..., Any],
    has_aux: bool = False,
    argnums: int | Sequence[int] = 0,
    *,
    batch_argnums: int | Sequence[int] = 1,
    keep_batch_dim: bool = True,
    microbatch_size: int | None = None,
    accumulator: Any = AccumulationType.SUM,
    transform_fn: Callable[[Any], Any] = lambda g: g,
    metrics_fn: Callable[[Any], Any] = lambda g: None,
    num_real_microbatches: int | jax.Array | None = None,
) -> Callable[..., tuple[Any, IndividualOutputs]]:
    """Per-example gradients of `fun`, transformed and combined, as optax's `micro_grad`.

    For each example `n` of the batch arguments `batch_argnums`, `g_n = grad fun(..., x_n,
    ...)` with respect to `argnums`; returns `(accumulate_n transform_fn(g_n),
    IndividualOutputs(values=f_n, metrics=metrics_fn(g_n), aux=aux_n))`, the second part per
    example (concatenated). With `keep_batch_dim` each example is passed as a batch of one.
    DP-SGD's clipped sum is `transform_fn=` a clipping, `accumulator=SUM`.
    """
    validation.boolean("has_aux", has_aux)
    validation.boolean("keep_batch_dim", keep_batch_dim)
    batch_argnums = _as_tuple(batch_argnums)
    with_aux = fun if has_aux else (lambda *a, **k: (fun(*a, **k), None))
    value_and_grad = jax.value_and_grad(with_aux, argnums, has_aux=True)

    def per_example(*args, **kwargs):
        (value, aux), grad = value_and_grad(*args, **kwargs)
        return transform_fn(grad), IndividualOutputs(value, metrics_fn(grad), aux)

    in_axes = [0 if i in batch_argnums else None for i in range(max(batch_argnums) + 1)]
    mapped = micro_vmap(
        per_example,
        in_axes=in_axes,
        microbatch_size=microbatch_size,
        accumulator=(accumulator, AccumulationType.CONCAT),
        num_real_microbatches=num_real_microbatches,
    )
    if not keep_batch_dim:
        return mapped

    def with_batch_of_one(*args, **kwargs):
        args = [
            jax.tree.map(lambda x: jnp.expand_dims(x, 1), a) if i in batch_argnums else a
            for i, a in enumerate(args)
        ]
        return mapped(*args, **kwargs)

    return with_batch_of_one
