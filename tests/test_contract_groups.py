"""The contract, inside partition and MultiSteps: each entry of the registry
(contract_registry.py) that can run on a group of the params and on accumulated gradients,
inside `MultiSteps(partition({"train": entry, "frozen": set_to_zero()}), k=2)`, against itself
alone on the trained leaves and the mean gradients. All entries are compiled as one program
(float32), once for the module."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from contract_harness import fast_jit, frozen_labels, raise_if_broken, traceable, trained
from contract_registry import REGISTRY, Entry
from optim_helpers import params_like, sequence

import optim

# The entries that can run on a group of the params and on accumulated gradients: all but
# those that read the objective (Entry.reads_objective) or name the leaves of the whole example
# params (Entry.whole_tree).
pytestmark = pytest.mark.slow  # one program of every entry, compile-bound

GROUPABLE = [name for name, e in REGISTRY.items() if not (e.reads_objective or e.whole_tree)]
MICRO_STEPS = 4  # two optimizer steps of MultiSteps(k=2)
# The `value=` of each micro-step: the optimizer steps see 2.0 then 2.5, a plateau (for
# reduce_on_plateau, which then cuts its scale).
VALUES = jnp.array([3.0, 2.0, 1.0, 2.5])


def scan_updates(tx, params, grads, values):
    """The updates of `tx` for each gradient of `grads` (stacked on a leading axis), the params
    kept fixed; `values[i]` is passed as `value=` with the i-th gradient."""

    def step(state, inputs):
        g, value = inputs
        updates, state = tx.update(g, state, params, value=value)
        return state, updates

    return jax.lax.scan(step, tx.init(params), (grads, values))[1]


def wrapped_runs(e: Entry, params, grads):
    """The entry inside `MultiSteps(partition({"train": entry, "frozen": set_to_zero()}), k=2)`
    for the micro-steps `grads`, and the entry alone on the trained leaves and on the mean
    gradient of each pair of micro-steps. (Both wrappers in one program: half the compilation
    of two.)"""
    groups = optim.partition({"train": e.build(), "frozen": optim.set_to_zero()}, frozen_labels)
    wrapped = optim.MultiSteps(groups, every_k_schedule=2)
    means = jax.tree.map(lambda g: (g[0::2] + g[1::2]) / 2, trained(grads))
    return (
        scan_updates(wrapped, params, grads, VALUES),
        scan_updates(e.build(), trained(params), means, VALUES[1::2]),
    )


@pytest.fixture(scope="module")
def grouped():
    """`wrapped_runs` of every groupable entry, compiled as one program (float32): the entry's
    params and its runs by name, and the entries that failed to build or trace."""
    example = params_like(jnp.float32, seed=5)
    _, grads = sequence(MICRO_STEPS, seed=6, dtype=jnp.float32)
    inputs = {}
    for n in GROUPABLE:
        select = REGISTRY[n].select or (lambda tree: tree)
        inputs[n] = select(example), select(grads)
    builds = {n: (lambda n=n: REGISTRY[n], *inputs[n]) for n in GROUPABLE}
    built, broken = traceable(builds, wrapped_runs)
    runs = fast_jit(lambda pg: {n: wrapped_runs(REGISTRY[n], *pg[n]) for n in built})
    outputs = runs({n: inputs[n] for n in built})
    return {n: (inputs[n][0], outputs[n]) for n in built}, broken


@pytest.mark.parametrize("name", GROUPABLE)
def test_inside_partition_and_multi_steps(name, grouped):
    """Inside `MultiSteps(partition(...), k=2)` with every other leaf frozen, under jit for four
    micro-steps (params fixed): the frozen leaves get updates of exactly 0 at every micro-step;
    the first micro-step of each pair gives updates of exactly 0 everywhere (accumulation), and
    the second gives the trained leaves what the entry alone computes on them from the pair's
    mean gradient."""
    results, broken = grouped
    raise_if_broken(broken, name)
    params, (updates, alone) = results[name]
    labels = jax.tree.leaves(frozen_labels(params))
    assert labels.count("frozen") and labels.count("train")
    rtol = max(REGISTRY[name].rtol, 1e-6)
    for step in range(MICRO_STEPS):
        u = jax.tree.map(lambda x, step=step: x[step], updates)
        chex.assert_trees_all_equal_shapes_and_dtypes(u, params)
        for leaf, label in zip(jax.tree.leaves(u), labels, strict=True):
            if label == "frozen" or step % 2 == 0:
                assert not np.any(np.asarray(leaf)), (
                    f"{name}: a {label} leaf moved at micro-step {step} "
                    f"({'accumulating' if step % 2 == 0 else 'a frozen group'})"
                )
        if step % 2 == 1:
            expected = [x[step // 2] for x in alone]
            for a, b in zip(trained(u), expected, strict=True):
                scale = 1 + float(jnp.max(jnp.abs(b.astype(jnp.float32))))
                np.testing.assert_allclose(
                    a, b, rtol=rtol, atol=1e-6 * scale, err_msg=f"{name}: micro-step {step}"
                )
