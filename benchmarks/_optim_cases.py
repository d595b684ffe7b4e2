"""The pieces of `benchmarks.bench_optim`: the bandwidth kernel, the trees, the steps (ours and
optax's), the cases and their targets, and each implementation's compiled, donated step with
its correctness check."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import optim
from benchmarks._timing import Timings, block, bytes_accessed, memory_of, time_calls

try:
    import optax
except ImportError:  # optax is optional: then only our implementations run
    optax = None


# --------------------------------------------------------------------------- bandwidth


LIMIT_ENTRIES = 1 << 25  # 128 MiB per array, far beyond the caches


def triad_kernel(n: int) -> tuple[Callable, jax.Array, jax.Array]:
    """The jitted `a*x + y` (y donated, 12 bytes per entry), with its two arrays, compiled."""
    triad = jax.jit(lambda y, x: 1.0001 * x + y, donate_argnums=0)
    x = jnp.full((n,), 0.5, jnp.float32)
    y = block(triad(jnp.full((n,), 0.25, jnp.float32), x))
    return triad, x, y


def measure_bandwidth(quick: bool) -> dict[str, Any]:
    """The streaming bandwidth of a jitted `a*x + y` (y donated): bytes moved per second."""
    sizes = [LIMIT_ENTRIES] if quick else [LIMIT_ENTRIES, 2 * LIMIT_ENTRIES]
    results = []
    for n in sizes:
        triad, x, y = triad_kernel(n)
        timings = Timings()
        for _ in range(3 if quick else 5):
            seconds, y = time_calls(lambda y, x=x, triad=triad: triad(y, x), y, 10)
            timings.add_repeat(seconds)
        moved = 12 * n
        summary = timings.summary()
        results.append(
            {
                "entries": n,
                "bytes_per_call": moved,
                **summary,
                "gb_per_s_median": moved / summary["median_s"] / 1e9,
                "gb_per_s_best": moved / summary["min_s"] / 1e9,
            }
        )
        del x, y
    best = max(results, key=lambda r: r["gb_per_s_median"])
    return {"kernel": "a*x+y, y donated", "runs": results, "gb_per_s": best["gb_per_s_median"]}


# --------------------------------------------------------------------------- trees and steps


def tree_1x10m() -> dict:
    return {"w": (10_000_000,)}


def tree_100x100k() -> dict:
    return {f"layer{i:03d}": (100_000,) for i in range(100)}


def tree_2000x500() -> dict:
    return {f"p{i:04d}": (500,) for i in range(2000)}


def tree_mlp() -> dict:
    sizes = [2048, 4096, 4096, 4096, 2048]
    return {
        f"dense{i}": {"w": (a, b), "b": (b,)}
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True))
    }


def cosine(count: jax.Array) -> jax.Array:
    """The cosine decay of the chain: 1e-3 -> 0 over 10,000 steps (shared by both libraries)."""
    t = jnp.minimum(count, 10_000).astype(jnp.float32) / 10_000
    return 1e-3 * 0.5 * (1 + jnp.cos(jnp.pi * t))


def ours_adam() -> optim.GradientTransformation:
    return optim.adam(1e-3)


def ours_chain() -> optim.GradientTransformation:
    return optim.chain(
        optim.clip_by_global_norm(1.0),
        optim.scale_by_adam(),
        optim.add_decayed_weights(1e-4),
        optim.scale_by_learning_rate(cosine),
    )


def optax_adam():
    return optax.adam(1e-3)


def optax_chain():
    return optax.chain(
        optax.clip_by_global_norm(1.0),
        optax.scale_by_adam(),
        optax.add_decayed_weights(1e-4),
        optax.scale_by_learning_rate(cosine),
    )


@dataclass(frozen=True)
class Case:
    name: str
    step: str  # "adam" or "chain"
    tree: Callable[[], dict]
    bytes_per_param: int
    steps: int  # timed steps per repeat (full run)


CASES = [
    Case("adam 1 leaf x 10M", "adam", tree_1x10m, 28, 20),
    Case("adam 100 leaves x 100k (10M)", "adam", tree_100x100k, 28, 20),
    Case("adam 2000 leaves x 500 (1M)", "adam", tree_2000x500, 28, 20),
    Case("adam MLP 2048-4096x3-2048 (50M)", "adam", tree_mlp, 28, 10),
    Case("chain 1 leaf x 10M", "chain", tree_1x10m, 32, 20),
    Case("chain 2000 leaves x 500 (1M)", "chain", tree_2000x500, 32, 20),
]

# The targets of the performance issue, on the fast path (fused-flat).
TARGETS = [
    ("adam 1 leaf x 10M", "share_of_limit", ">=", 0.75),
    ("adam 1 leaf x 10M", "time_vs_optax", "<=", 1.0),
    ("adam MLP 2048-4096x3-2048 (50M)", "share_of_limit", ">=", 0.75),
    ("adam MLP 2048-4096x3-2048 (50M)", "time_vs_optax", "<=", 1.0),
    ("adam 2000 leaves x 500 (1M)", "time_vs_optax", "<=", 0.1),
    ("adam 2000 leaves x 500 (1M)", "compile_vs_optax", "<=", 0.1),
    ("chain 2000 leaves x 500 (1M)", "time_vs_optax", "<=", 0.1),
    ("chain 2000 leaves x 500 (1M)", "compile_vs_optax", "<=", 0.1),
    ("chain 1 leaf x 10M", "share_of_limit", ">=", 0.60),
    ("chain 1 leaf x 10M", "time_vs_optax", "<=", 0.6),
]


def make_tree(shapes: dict, key: jax.Array, scale: float) -> Any:
    leaves, treedef = jax.tree.flatten(shapes, is_leaf=lambda x: isinstance(x, tuple))
    keys = jax.random.split(key, len(leaves))
    draw = jax.jit(lambda k, shape: scale * jax.random.normal(k, shape), static_argnums=1)
    return jax.tree.unflatten(treedef, [draw(k, s) for k, s in zip(keys, leaves, strict=True)])


@dataclass
class Impl:
    name: str
    make_tx: Callable[[], Any]
    apply: Callable[[Any, Any], Any]
    flat: bool  # params and grads as FlatTrees


def implementations(step: str, many_leaves: bool, quick: bool) -> list[Impl]:
    ours = ours_adam if step == "adam" else ours_chain
    impls = []
    if optax is not None:
        make = optax_adam if step == "adam" else optax_chain
        impls.append(Impl("optax", make, optax.apply_updates, False))
    if not (quick and many_leaves):
        # Leaf by leaf on thousands of leaves compiles for minutes on XLA:CPU (as optax does);
        # the gathered-and-split path pays for its split into thousands of outputs.
        impls.append(Impl("ours", ours, optim.apply_updates, False))
        impls.append(Impl("fused-tree", lambda: optim.fused(ours()), optim.apply_updates, False))
    impls.append(Impl("fused-flat", lambda: optim.fused(ours()), optim.apply_updates, True))
    return impls


@dataclass
class Prepared:
    impl: Impl
    step: Any  # compiled
    carry: tuple  # (params, state)
    grads: Any
    first_call_s: float
    compile_s: float
    memory: dict | None
    moved: float | None  # bytes read and written by the compiled step (XLA's cost analysis)
    donated: bool
    after: list[np.ndarray]  # params after the correctness steps, as host arrays


def prepare(impl: Impl, case: Case, key: jax.Array, check_steps: int) -> Prepared:
    k_params, k_grads = jax.random.split(key)
    params = make_tree(case.tree(), k_params, 0.1)
    grads = make_tree(case.tree(), k_grads, 1.0)
    if impl.flat:
        params, grads = optim.flatten_params(params), optim.flatten_params(grads)
    tx = impl.make_tx()
    state = tx.init(params)
    block(state)

    def step(params, state, grads):
        updates, state = tx.update(grads, state, params)
        return impl.apply(params, updates), state

    start = time.perf_counter()
    compiled = jax.jit(step, donate_argnums=(0, 1)).lower(params, state, grads).compile()
    compile_s = time.perf_counter() - start
    memory = memory_of(compiled)
    inputs = jax.tree.leaves((params, state))
    carry = block(compiled(params, state, grads))
    first_call_s = time.perf_counter() - start
    donated = all(x.is_deleted() for x in inputs)
    for _ in range(check_steps - 1):
        carry = block(compiled(*carry, grads))
    params_now = carry[0].unflatten() if impl.flat else carry[0]
    after = [np.asarray(x) for x in jax.tree.leaves(params_now)]
    moved = bytes_accessed(compiled)
    return Prepared(
        impl, compiled, carry, grads, first_call_s, compile_s, memory, moved, donated, after
    )


def compare(prepared: list[Prepared]) -> dict[str, Any]:
    """Each implementation's params after the check steps, against optax and ours leaf by leaf."""
    by_name = {p.impl.name: p.after for p in prepared}
    out = {}
    for p in prepared:
        row = {}
        for ref in ("optax", "ours"):
            if ref in by_name and ref != p.impl.name:
                pairs = list(zip(by_name[ref], p.after, strict=True))
                row[f"bitwise_vs_{ref}"] = all(np.array_equal(a, b) for a, b in pairs)
                row[f"max_abs_diff_vs_{ref}"] = max(float(np.max(np.abs(a - b))) for a, b in pairs)
                row[f"close_vs_{ref}"] = all(
                    np.allclose(a, b, rtol=1e-5, atol=1e-7) for a, b in pairs
                )
        out[p.impl.name] = row
    return out
