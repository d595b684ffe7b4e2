"""Is a foreign transform elementwise? A check of its jaxprs, for `optim.fused`.

The library's own transforms declare themselves elementwise (`optim.ElementwiseTransformation`);
a transform from elsewhere (optax, or one's own) is checked here instead, once per trace, on
jaxprs (no arrays, no host sync): the update is traced on a small probe tree of two leaves of
different shapes and on the flat buffers, and every operation that touches an array must be
elementwise, a reduction over everything, or a shape-only change; a statistic of one leaf must
not feed that leaf's update; the two leaves must be treated alike.
"""

from __future__ import annotations

import collections
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend import core as jax_core

from optim._core.base import GradientTransformation
from optim._core.combine import call_update
from optim.flat.flat_tree import FlatTree, Layout

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


def abstract_flat(layout: Layout) -> FlatTree:
    """A `FlatTree` of `jax.ShapeDtypeStruct`s with `layout`'s buffers."""
    sizes = layout.sizes()
    buffers = {}
    for name, alone in zip(layout.names, layout.standalone, strict=True):
        i = layout.groups.index(name)
        shape = layout.shapes[i] if alone else (sizes[name],)
        buffers[name] = jax.ShapeDtypeStruct(shape, layout.dtypes[i])
    return FlatTree(buffers, layout)


def jaxpr_problems(tx: GradientTransformation, layout: Layout, extra: dict) -> list[str]:
    """What makes `tx` not elementwise, read from its jaxprs (empty when it is)."""
    dtype = layout.dtypes[0] if layout.dtypes else jnp.float32
    problems, _ = _probe_problems(tx, extra, dtype)
    if not problems:
        flat = abstract_flat(layout)
        state = jax.eval_shape(tx.init, flat)
        problems = _flat_problems(tx, flat, state, flat, extra)
    return problems
