"""`fused`: run an elementwise optimizer on a few flat buffers instead of leaf by leaf.

    tx = optim.fused(optim.adamw(1e-3))          # any elementwise transform or chain
    flat = optim.flatten_params(params)          # once: one 1-D buffer per dtype
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
each); keep the params flat (`optim.flatten_params`) for the full benefit. A model that reads its
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

The library's entry-by-entry transforms declare themselves elementwise
(`optim.ElementwiseTransformation`; chains and wrappers of them too) and pass at once; any
other transform (optax's, or one's own) is checked once per trace on its jaxprs
(`optim/flat/jaxpr_check.py`), with no arrays and no host sync.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax

from optim._core.base import GradientTransformation, apply_updates, is_elementwise
from optim._core.combine import call_update
from optim.flat.flat_tree import FlatTree, find_layout, gather, layout_of, unflatten
from optim.flat.jaxpr_check import jaxpr_problems


class FusionError(ValueError):
    """A transform that is not elementwise was given to `optim.fused`."""


def check_fusable(tx: GradientTransformation, params: Any, *, extra: dict | None = None) -> None:
    """Raise a `FusionError` when `tx` is not elementwise, so that `fused(tx)` would not be exact.

    A transform declared elementwise (`optim.ElementwiseTransformation`: the library's entry-by-
    entry building blocks, chains of them, and wrappers around them) passes at once; any other
    is checked on its jaxprs (`optim/flat/jaxpr_check.py`). `params` is an example tree (arrays
    or `jax.ShapeDtypeStruct`s); `extra` the keyword extras the update will get (`value=`,
    ...). `fused` calls this once per trace.
    """
    if is_elementwise(tx):
        return
    layout = params.layout if isinstance(params, FlatTree) else layout_of(params)
    problems = jaxpr_problems(tx, layout, extra or {})
    if problems:
        raise FusionError(
            "optim.fused needs an elementwise transform (the same rule for every entry, with "
            "scalars shared by all of them); this one is not: "
            + "; ".join(problems)
            + ". Fuse the elementwise part only, and wrap masks, partitions and per-layer "
            "methods (lamb, lars, adafactor) around it or leave them unfused."
        )


def fused(
    tx: GradientTransformation, *, check: bool = True, concat_below: int = 1 << 14
) -> GradientTransformation:
    """`tx` run on flat buffers, one per dtype: the same numbers, in a handful of kernels.

    `init(params)` takes a tree or a `FlatTree` (`optim.flatten_params(params)`) and keeps every
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
