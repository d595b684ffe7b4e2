"""The machinery the contract modules share (test_contract.py, test_contract_groups.py,
test_contract_descent.py): a fast compilation for their many small programs, a way to set
aside the transforms that fail to build or trace (each is then reported by its own tests), the
avals of a state, and a labelling of the example params in two groups."""

import jax
import jax.numpy as jnp

# The contract programs run once, on a few tiny arrays: compiling them is nearly all of the
# suite's time, and XLA:CPU compiles them about three times faster without its newer fusion
# emitters and LLVM optimizations. The arithmetic is the same (IEEE, no fast math), and
# test_eager_equals_jit compares with the default compilation, op by op. Options this XLA does
# not know are dropped.
FAST_COMPILE = {
    "xla_cpu_use_fusion_emitters": False,
    "xla_backend_optimization_level": 0,
    "xla_llvm_disable_expensive_passes": True,
}
try:
    jax.jit(jnp.negative, compiler_options=FAST_COMPILE).lower(1.0).compile()
except Exception:  # noqa: BLE001 - another backend or XLA version: default compilation
    FAST_COMPILE = None


def fast_jit(fn):
    return jax.jit(fn, compiler_options=FAST_COMPILE)


def traceable(builds: dict, trace) -> tuple[dict, dict]:
    """Build every transform of `builds` ({key: (build, ...)}) and keep those `trace` (a
    function of the transform and the rest of the tuple) traces without error: the others go to
    `broken`, with their error, so that they are reported by their own tests and do not take the
    others down. Traced all at once first, one by one only when that fails."""
    built, broken = {}, {}
    for key, (build, *rest) in builds.items():
        try:
            built[key] = (build(), *rest)
        except Exception as error:  # noqa: BLE001 - re-raised by the entry's own tests
            broken[key] = error
    try:
        jax.eval_shape(lambda: {key: trace(*args) for key, args in built.items()})
    except Exception:  # noqa: BLE001 - one of them is broken: find which
        for key, args in list(built.items()):
            try:
                jax.eval_shape(lambda args=args: trace(*args))
            except Exception as error:  # noqa: BLE001 - re-raised by the entry's own tests
                broken[key] = error
                del built[key]
    return built, broken


def raise_if_broken(broken: dict, key) -> None:
    """Re-raise the error of a transform `traceable` set aside."""
    if key in broken:
        raise broken[key]


def avals(tree):
    """Shape, dtype and weak type of every leaf, in leaf order (a list: some states hold
    pytree nodes, such as `FlatTree`, that do not compare by value)."""
    return [
        (jnp.shape(x), jnp.result_type(x), getattr(x, "weak_type", None))
        for x in jax.tree.leaves(tree)
    ]


def frozen_labels(params):
    """Every other leaf frozen, in leaf order: the trained group is a tree with holes."""
    leaves, treedef = jax.tree.flatten(params)
    return treedef.unflatten(["frozen" if i % 2 else "train" for i in range(len(leaves))])


def trained(tree):
    """The trained leaves of `tree` as a plain list: the same leaves, without the holes."""
    labels = jax.tree.leaves(frozen_labels(tree))
    return [x for x, label in zip(jax.tree.leaves(tree), labels, strict=True) if label == "train"]
