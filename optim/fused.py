"""`fused`: run an elementwise optimizer on a few flat buffers instead of leaf by leaf.

    tx = optim.fused(optim.adamw(1e-3))          # any elementwise transform or chain
    flat = optim.flatten(params)                 # once: one 1-D buffer per dtype
    state = tx.init(flat)

    @functools.partial(jax.jit, donate_argnums=(0, 1))
    def step(flat, state, batch):
        grads = jax.grad(lambda f: loss(f.unflatten(), batch))(flat)   # flat too
        updates, state = tx.update(grads, state, flat)
        return optim.apply_updates(flat, updates), state

An optimizer step is memory-bound and, leaf by leaf, costs a few XLA kernels per leaf and per
transform: on a model with thousands of leaves the step time and the compile time grow with
the number of leaves, not with the number of parameters. Here the moments live in one flat
buffer per dtype (a `FlatTree`), the inner transform runs once on those buffers (Adam is one
fused elementwise pass), and the result is, entry for entry, the same computation as leaf by
leaf. Tested on every leaf over 25 steps (float32, bfloat16, mixed trees) for sgd, momentum,
Nesterov, adam (also with Nesterov and bfloat16 moments), adamw, nadam, amsgrad, adamax, radam,
adabelief, rmsprop, adadelta, rprop, adaptive gains, lion, both schedule-free methods, the
clip + adam + weight decay + cosine chain and inject_hyperparams: params, moments and counts
are bit for bit the per-leaf ones. The library writes its rules so that XLA has nothing to
rewrite differently from one program to another (a bias correction is a product with the
reciprocal, which XLA makes of a division by a shared scalar in some programs only; roots are
`x / sqrt(s)`, correctly rounded everywhere, not `rsqrt`). What remains is XLA's code
generation: a multiply-add may become an FMA on either product (`ema` with tree params), and
a short leaf's last entries run in scalar code (`adagrad` with flat params, `nadam`); then a
few entries differ in their last bit, as they do leaf by leaf between two different trees.

`fused(tx)` also takes params and grads as ordinary trees: it then gathers the grads (and
params) of the small leaves with one concatenate per buffer and splits the updates back into
leaves. That keeps the moments flat and exact, but on XLA:CPU the split into thousands of
outputs is itself slow to compile (XLA emits a kernel per output slice, about 50 ms of compile
each); keep the params flat (`optim.flatten`) for the full benefit. A model that reads its
leaves from `flat.unflatten()` then pays for those slices in its own compile instead (on
XLA:CPU, once per program; see benchmarks/RESULTS.md for the figures).

What may be fused: transforms that act entry by entry, with scalars shared by all entries
(hyperparameters, schedules, the step count) and reductions over all the entries of the tree
(`clip_by_global_norm`, finiteness checks): sgd, momentum, Nesterov, adam, adamw (no mask),
nadam, amsgrad, adamax, rmsprop, adagrad, adadelta, rprop, lion, sign, clip, add_decayed_weights
(no mask), ema, the learning-rate scalings and schedules, inject_hyperparams, and optax's
transforms of the same kinds. A global sum (the norm of `clip_by_global_norm`) is the same sum
taken in a different order (one buffer at a time instead of one leaf at a time): it may differ
from the per-leaf sum in its last bits, so a step where the clip is active may too; all else
is exact. Not fusable, rejected with a `FusionError` when first traced: anything that looks at
a leaf's shape or treats leaves differently (adafactor, muon, lamb and lars with their per-layer
trust ratios, masks and partitions by leaf, per-leaf norms, random noise per leaf). Wrap those
around the fused part instead: `optim.masked(optim.fused(tx), mask)` is fine.

The check is done once per trace, on jaxprs (no arrays, no host sync): the inner update is
traced on the flat buffers and on a small probe tree of two leaves of different shapes, and
every operation that touches an array must be elementwise, a reduction over everything, or a
shape-only change; a statistic of one leaf must not feed that leaf's update; the two leaves must
be treated alike.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend import core as jax_core

from optim.base import GradientTransformation, apply_updates
from optim.combine import call_update
from optim.flat import FlatTree, Layout, find_layout, gather, layout_of, unflatten


class FusionError(ValueError):
    """A transform that is not elementwise was given to `optim.fused`."""


# Primitives that act entry by entry (scalars broadcast): exact on any layout of the entries.
_ELEMENTWISE = frozenset(
    """abs acos acosh add and asin asinh atan atan2 atanh cbrt ceil clamp convert_element_type
    copy copy_p cos cosh digamma div eq erf erf_inv erfc exp exp2 expm1 floor ge gt igamma
    igammac imag integer_pow is_finite le lgamma log log1p logistic lt max min mul ne neg
    nextafter not or population_count pow real reduce_precision rem round rsqrt select_n
    shift_left shift_right_arithmetic shift_right_logical sign sin sinh sqrt square sub tan
    tanh xor stop_gradient""".split()
)
# Reductions that are exact in any order (max, min, all, any) and sums (order may change bits).
_REDUCE_EXACT = frozenset({"reduce_max", "reduce_min", "reduce_and", "reduce_or"})
_REDUCE_SUM = frozenset({"reduce_sum", "reduce_prod"})
# Shape-only changes: they move no entry relative to another of the same leaf.
_SHAPE_ONLY = frozenset({"reshape", "squeeze", "expand_dims", "broadcast_in_dim"})

# Operations that stack scalars into a short vector of statistics (one per leaf).
_STACKING = frozenset({"concatenate", "stack", "reshape", "broadcast_in_dim"})
# Call-like primitives whose body is checked in place of the call.
_CALLS = frozenset(
    {
        "jit",
        "pjit",
        "closed_call",
        "core_call",
        "custom_jvp_call",
        "custom_vjp_call",
        "remat",
        "checkpoint",
    }
)

_PROBE_SHAPES = ((7,), (3, 5))


def _shape(v: Any) -> tuple[int, ...]:
    return tuple(getattr(v.aval, "shape", ()))


def _size(v: Any) -> int:
    return int(np.prod(_shape(v), dtype=np.int64))


def _sub_jaxprs(eqn: Any) -> list[Any]:
    found = []
    for value in eqn.params.values():
        for item in value if isinstance(value, (tuple, list)) else (value,):
            if isinstance(item, jax_core.ClosedJaxpr):
                found.append(item.jaxpr)
            elif isinstance(item, jax_core.Jaxpr):
                found.append(item)
    return found


class _Analysis:
    """Provenance of every array in a jaxpr: which probe leaves' entries flow into it."""

    def __init__(self, all_leaves: int):
        self.all = all_leaves
        self.problems: list[str] = []
        self.per_leaf_ops: dict[int, collections.Counter] = collections.defaultdict(
            collections.Counter
        )
        self.global_sum = False
        self.stats: set = set()  # vectors stacked from scalars (one statistic per leaf)

    def problem(self, text: str) -> None:
        if text not in self.problems:
            self.problems.append(text)

    def big(self, v: Any) -> bool:
        """An array of entries (not a scalar, nor a short vector of per-leaf statistics)."""
        return _size(v) > 1 and v not in self.stats

    def run(self, jaxpr: Any, labels: list[int]) -> list[int]:
        env: dict[Any, int] = {}

        def read(v: Any) -> int:
            return 0 if isinstance(v, jax_core.Literal) else env.get(v, 0)

        for var, label in zip(jaxpr.invars, labels, strict=True):
            env[var] = label
        for eqn in jaxpr.eqns:
            ins = [read(v) for v in eqn.invars]
            outs = self.equation(eqn, ins)
            for var, label in zip(eqn.outvars, outs, strict=True):
                env[var] = label
        return [read(v) for v in jaxpr.outvars]

    def equation(self, eqn: Any, ins: list[int]) -> list[int]:
        name = eqn.primitive.name
        if not any(self.big(v) for v in eqn.invars if not isinstance(v, jax_core.Literal)):
            if name in _STACKING or name in _ELEMENTWISE:
                # Stacking scalars (say, a finiteness flag per leaf) makes statistics, not entries.
                self.stats.update(v for v in eqn.outvars if _size(v) > 1)
        touches_arrays = any(self.big(v) for v in (*eqn.invars, *eqn.outvars))
        joined = 0
        for label in ins:
            joined |= label
        subs = _sub_jaxprs(eqn)
        if name == "cond" and subs:
            outs = [0] * len(eqn.outvars)
            for sub in subs:
                outs = [a | b for a, b in zip(outs, self.run(sub, ins[1:]), strict=True)]
            return outs
        if name in _CALLS and len(subs) == 1 and len(subs[0].invars) == len(ins):
            return self.run(subs[0], ins)
        if not touches_arrays:
            return [joined] * len(eqn.outvars)  # scalar arithmetic: hyperparameters, counts
        for var, label in zip(eqn.invars, ins, strict=True):
            # A scalar computed from some leaves only (a per-leaf norm) must not meet an array.
            if not self.big(var) and label not in (0, self.all):
                self.problem(
                    "a statistic of single leaves (a per-leaf norm or trust ratio) "
                    f"is used in the update (at `{name}`)"
                )
        arrays_out = any(self.big(v) for v in eqn.outvars)
        if arrays_out:
            # An array carries the entries of the arrays it is computed from; shared scalars
            # (hyperparameters, a global norm) add no leaf to it.
            joined = 0
            for var, label in zip(eqn.invars, ins, strict=True):
                if self.big(var):
                    joined |= label
        if name in _ELEMENTWISE or name in _SHAPE_ONLY:
            if name == "broadcast_in_dim" and self.big(eqn.invars[0]):
                if _shape(eqn.invars[0]) != _shape(eqn.outvars[0]):
                    self.problem("`broadcast_in_dim` repeats an array along new axes")
        elif name in _REDUCE_EXACT or name in _REDUCE_SUM or name == "dot_general":
            if arrays_out:
                self.problem(f"`{name}` reduces along some axes only (it sees the leaves' shapes)")
            if (
                name != "dot_general"
                and self.big(eqn.invars[0])
                and len(eqn.params.get("axes", ())) != len(_shape(eqn.invars[0]))
            ):
                self.problem(f"`{name}` reduces along some axes only (it sees the leaves' shapes)")
            if name not in _REDUCE_EXACT:
                self.global_sum = True
        else:
            self.problem(f"`{name}` is not an elementwise operation")
        if arrays_out and joined & (joined - 1):
            self.problem(f"`{name}` mixes entries of different leaves")
        if arrays_out and joined and not joined & (joined - 1) and name not in _SHAPE_ONLY:
            self.per_leaf_ops[joined][name] += 1
        return [joined] * len(eqn.outvars)


def _abstract(tree: Any) -> Any:
    def one(x: Any) -> Any:
        if hasattr(x, "shape") and hasattr(x, "dtype"):
            return jax.ShapeDtypeStruct(x.shape, x.dtype)
        return jax.ShapeDtypeStruct((), jnp.result_type(x))

    return jax.tree.map(one, tree)


def _is_number(x: Any) -> bool:
    return not isinstance(x, bool) and isinstance(x, (jax.Array, np.ndarray, float, int))


def _split_extra(extra: dict) -> tuple[dict, dict]:
    arrays = {k: v for k, v in extra.items() if _is_number(v)}
    others = {k: v for k, v in extra.items() if k not in arrays}
    return _abstract(arrays), others


def _probe_problems(tx: GradientTransformation, extra: dict, dtype: Any) -> tuple[list, bool]:
    """Trace `tx` leaf by leaf on a two-leaf probe tree and look for per-leaf behaviour."""
    probe = {
        "a": jax.ShapeDtypeStruct(_PROBE_SHAPES[0], dtype),
        "b": jax.ShapeDtypeStruct(_PROBE_SHAPES[1], dtype),
    }
    arrays, others = _split_extra(extra)
    try:
        state = jax.eval_shape(tx.init, probe)
        closed = jax.make_jaxpr(lambda g, s, p, ex: call_update(tx, g, s, p, {**ex, **others}))(
            probe, state, probe, arrays
        )
    except Exception as error:  # noqa: BLE001 - any failure means the transform is per-leaf
        return [f"it fails on a two-leaf probe tree ({type(error).__name__}: {error})"], False
    bits = {shape: 1 << i for i, shape in enumerate(_PROBE_SHAPES)}
    labels = [bits.get(_shape(v), 0) for v in closed.jaxpr.invars]
    analysis = _Analysis(all_leaves=(1 << len(_PROBE_SHAPES)) - 1)
    outs = analysis.run(closed.jaxpr, labels)
    for var, label in zip(closed.jaxpr.outvars, outs, strict=True):
        if not analysis.big(var) and label and label != analysis.all:
            analysis.problem("it keeps a statistic of single leaves in its state or output")
    first, second = (analysis.per_leaf_ops[bit] for bit in bits.values())
    if first != second:
        differ = sorted(set(first.items()) ^ set(second.items()))
        analysis.problem(
            "it treats leaves differently (a mask, a partition or a choice by shape): "
            f"operations that differ between two leaves {differ}"
        )
    return analysis.problems, analysis.global_sum


def _flat_problems(tx: GradientTransformation, grads, state, params, extra) -> list[str]:
    """Trace `tx` on the flat buffers and require elementwise operations only."""
    arrays, others = _split_extra(extra)
    closed = jax.make_jaxpr(lambda g, s, p, ex: call_update(tx, g, s, p, {**ex, **others}))(
        _abstract(grads), _abstract(state), _abstract(params), arrays
    )
    analysis = _Analysis(all_leaves=1)
    analysis.run(closed.jaxpr, [1 if _size(v) > 1 else 0 for v in closed.jaxpr.invars])
    return analysis.problems


def check_fusable(tx: GradientTransformation, params: Any, *, extra: dict | None = None) -> None:
    """Raise a `FusionError` when `tx` is not elementwise, so that `fused(tx)` would not be exact.

    `params` is an example tree (arrays or `jax.ShapeDtypeStruct`s); `extra` the keyword
    extras the update will get (`value=`, ...). `fused` calls this once per trace.
    """
    extra = extra or {}
    layout = params.layout if isinstance(params, FlatTree) else layout_of(params)
    dtype = layout.dtypes[0] if layout.dtypes else jnp.float32
    problems, _ = _probe_problems(tx, extra, dtype)
    if not problems:
        flat = _abstract_flat(layout)
        state = jax.eval_shape(tx.init, flat)
        problems = _flat_problems(tx, flat, state, flat, extra)
    if problems:
        raise FusionError(
            "optim.fused needs an elementwise transform (the same rule for every entry, with "
            "scalars shared by all of them); this one is not: "
            + "; ".join(problems)
            + ". Fuse the elementwise part only, and wrap masks, partitions and per-layer "
            "methods (lamb, lars, adafactor) around it or leave them unfused."
        )


def _abstract_flat(layout: Layout) -> FlatTree:
    sizes = layout.sizes()
    buffers = {}
    for name, alone in zip(layout.names, layout.standalone, strict=True):
        i = layout.groups.index(name)
        shape = layout.shapes[i] if alone else (sizes[name],)
        buffers[name] = jax.ShapeDtypeStruct(shape, layout.dtypes[i])
    return FlatTree(buffers, layout)


def fused(
    tx: GradientTransformation, *, check: bool = True, concat_below: int = 1 << 14
) -> GradientTransformation:
    """`tx` run on flat buffers, one per dtype: the same numbers, in a handful of kernels.

    `init(params)` takes a tree or a `FlatTree` (`optim.flatten(params)`) and keeps every
    moment as a `FlatTree`. `update(grads, state, params=None, **extra)` takes grads (and
    params) as a `FlatTree` (the fast path: nothing is gathered or split) or as trees with the
    params' structure (gathered with one concatenate per buffer, updates split back into the
    tree); updates come back in the form the grads came in. Exact for elementwise transforms
    (up to XLA's own rewrites, see the module docstring); a global sum (clip_by_global_norm's
    norm) is summed buffer by buffer, not leaf by leaf.
    `check=False` skips the elementwise check (made once per trace, on jaxprs only).

    With params as a tree, leaves of `concat_below` entries or more (default 16384) keep a
    buffer of their own: leaf by leaf they already cost little per entry, and gathering them
    would copy them every step (and XLA:CPU concatenates large reshaped leaves slowly). The small
    leaves, where the per-leaf cost lies, are gathered. A `FlatTree` keeps its own layout.
    """
    checked: set = set()

    def init(params):
        if not isinstance(params, FlatTree):
            params = gather(params, layout_of(params, concat_below))
        return tx.init(params)

    def update(updates, state, params=None, **extra):
        if isinstance(updates, FlatTree):
            layout = updates.layout
            grads = updates
        else:
            layout = find_layout(state) or layout_of(updates, concat_below)
            grads = gather(updates, layout)
        if params is not None and not isinstance(params, FlatTree):
            params = gather(params, layout)
        if params is not None and params.layout != layout:
            raise ValueError(
                "params and grads have different flat layouts:\n"
                f"  params: {params.layout.describe()}\n  grads: {layout.describe()}"
            )
        key = (layout, tuple(sorted(extra)))
        if check and key not in checked:
            check_fusable(tx, grads, extra=extra)
            checked.add(key)
        out, state = call_update(tx, grads, state, params, extra)
        if not isinstance(out, FlatTree):
            raise FusionError(f"the fused transform returned {type(out).__name__}, not flat")
        return (out if isinstance(updates, FlatTree) else unflatten(out)), state

    return GradientTransformation(init, update)


def fused_step(
    tx: GradientTransformation, *, donate: bool = True
) -> Callable[[FlatTree, Any, FlatTree], tuple[FlatTree, Any]]:
    """A jitted `step(flat_params, state, flat_grads) -> (flat_params, state)` for `fused(tx)`.

    Params and state are donated (their buffers are reused for the results: no second copy of
    either is alive after the call); with `FlatTree`s the whole step is a few kernels per
    buffer (three for Adam on XLA:CPU), whatever the number of leaves. `tx` should already be
    `fused(...)`.
    """

    def step(params, state, grads):
        updates, state = tx.update(grads, state, params)
        return apply_updates(params, updates), state

    return jax.jit(step, donate_argnums=(0, 1) if donate else ())
