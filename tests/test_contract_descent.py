"""The contract, four steps down a quadratic: each optimizer of the registry
(contract_registry.py, the entries with `descends`) made a step (`Entry.descends`) and run for
four jitted steps on `loss` below from its start (`Entry.start`: the example params' tree of
0.5, or a smaller tree of 0.5, 0 and 0.3), in float32, float64 and bfloat16: traced once, the updates in the params' shapes and dtypes at every step,
the state's avals unchanged, the params finite, and the loss lower at the end. In float32 also
inside `chain(clip_by_global_norm(10), partition({"train": step, "frozen": set_to_zero()}))`
(every other leaf frozen), descending too; and injected (inject_hyperparams) inside
`MultiSteps(k=2)`, whose two micro-steps of the same gradient are one step of the plain entry.

Four steps, an even number: two-call SAM and MultiSteps(k=2) end on a whole step. All the
transforms of a dtype are compiled as one program (the grouped and accumulated ones as
another), once for the module.
"""

import functools
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from contract_harness import avals, fast_jit, frozen_labels, raise_if_broken, traceable
from contract_registry import REGISTRY

import optim

DESCENDING = [name for name, e in REGISTRY.items() if e.descends is not None]
STEPS = 4


def loss(params):
    return sum(jnp.sum(jnp.square(leaf.astype(jnp.float32) - 1.0)) for leaf in jax.tree.leaves(params))


def variants(wrapped):
    """{(name, how): (build, entry)}: each descending entry as a step ("plain"), or, `wrapped`,
    inside a chain and a partition ("grouped") and injected inside MultiSteps ("accumulated")."""
    out = {}
    for name in DESCENDING:
        e = REGISTRY[name]
        if not wrapped:
            out[name, "plain"] = lambda e=e: e.descends(e.build())
        else:
            out[name, "grouped"] = lambda e=e: optim.chain(
                optim.clip_by_global_norm(10.0),
                optim.partition(
                    {"train": e.descends(e.build()), "frozen": optim.set_to_zero()}, frozen_labels
                ),
            )
            out[name, "accumulated"] = lambda e=e: optim.MultiSteps(
                e.descends(e.build_injected()), 2
            )
    return {key: (build, REGISTRY[key[0]]) for key, build in out.items()}


class Descent(NamedTuple):
    params: dict  # per transform: the params before the first step and after each step
    updates: dict  # per transform: the updates of each step
    states: dict  # per transform: the state after init and after each step
    losses: dict  # per transform: `loss` of each of `params`, as Python floats
    broken: dict  # the transforms that failed to build or trace, with their error
    retrace_error: Exception | None


def one_step(tx, params, state):
    # The loss as `value=` too, for the methods that read it (polyak_sgd, momo); the others
    # ignore it.
    value, grads = jax.value_and_grad(loss)(params)
    updates, state = tx.update(grads, state, params, value=value)
    return optim.apply_updates(params, updates), state, updates


def descend(dtype_name, wrapped=False) -> Descent:
    """STEPS jitted steps of every variant, init and step each compiled once for all of them."""
    dtype = jnp.dtype(dtype_name)

    def trace(tx, e):
        return one_step(tx, e.start(dtype), tx.init(e.start(dtype)))

    built, broken = traceable(variants(wrapped), trace)
    transforms = {key: tx for key, (tx, _) in built.items()}

    def step_all(params, states):
        return {k: one_step(tx, params[k], states[k]) for k, tx in transforms.items()}

    params = {key: e.start(dtype) for key, (_, e) in built.items()}
    states = fast_jit(lambda ps: {k: tx.init(ps[k]) for k, tx in transforms.items()})(params)
    chex.clear_trace_counter()  # chex counts by function; step_all is traced once per run
    step = fast_jit(chex.assert_max_traces(step_all, n=1))
    history = {key: ([params[key]], [states[key]], []) for key in transforms}
    retrace_error = None
    for _ in range(STEPS):
        try:
            out = step(params, states)
        except AssertionError as error:  # reported by test_no_retrace_in_four_steps
            retrace_error = error
            step = fast_jit(step_all)
            out = step(params, states)
        params = {k: p for k, (p, _, _) in out.items()}
        states = {k: s for k, (_, s, _) in out.items()}
        for k, (p, s, u) in out.items():
            history[k][0].append(p)
            history[k][1].append(s)
            history[k][2].append(u)
    losses = {k: np.array([float(loss(p)) for p in ps]) for k, (ps, _, _) in history.items()}
    return Descent(
        {k: h[0] for k, h in history.items()},
        {k: h[2] for k, h in history.items()},
        {k: h[1] for k, h in history.items()},
        losses,
        broken,
        retrace_error,
    )


@pytest.fixture(scope="module")
def descents():
    """`descend` of a dtype's name (and `wrapped`), computed the first time a test of this
    module asks for it (under the `dtype` fixture's x64 mode) and kept until the module's last
    test."""
    cached = functools.cache(descend)
    return lambda dtype_name, wrapped=False: cached(dtype_name, wrapped)


def checked(result: Descent, key) -> np.ndarray:
    """The checks every variant passes; returns its losses."""
    raise_if_broken(result.broken, key)
    params, updates, states = result.params[key], result.updates[key], result.states[key]
    for tree in (*updates, *params[1:]):
        chex.assert_trees_all_equal_shapes_and_dtypes(tree, params[0])
    assert all(avals(s) == avals(states[0]) for s in states), (
        f"{key}: the state changes shape, dtype or weak type between steps (a retrace)"
    )
    assert all(bool(jnp.all(jnp.isfinite(leaf))) for leaf in jax.tree.leaves(params[-1]))
    return result.losses[key]


@pytest.mark.parametrize("name", DESCENDING)
def test_descends_in_four_jitted_steps(name, dtype, descents):
    losses = checked(descents(jnp.dtype(dtype).name), (name, "plain"))
    assert losses[-1] < losses[0], f"{name}: the loss went from {losses[0]} to {losses[-1]}"


def test_no_retrace_in_four_steps(dtype, descents):
    error = descents(jnp.dtype(dtype).name).retrace_error
    assert error is None, f"a later step retraced: {error}"


@pytest.mark.slow
def test_no_retrace_in_four_steps_grouped_and_accumulated(descents):
    error = descents("float32", wrapped=True).retrace_error
    assert error is None, f"a later step retraced: {error}"


@pytest.mark.slow
@pytest.mark.parametrize("name", DESCENDING)
def test_descends_inside_a_chain_and_a_partition(name, descents):
    losses = checked(descents("float32", wrapped=True), (name, "grouped"))
    assert losses[-1] < losses[0], f"{name}: the loss went from {losses[0]} to {losses[-1]}"


@pytest.mark.slow
@pytest.mark.parametrize("name", DESCENDING)
def test_injected_inside_multi_steps_is_the_plain_entry(name, descents):
    """Two micro-batches of the same gradient are one step of the plain optimizer (the params
    do not move on the first), and the injected optimizer reproduces the plain one."""
    plain = checked(descents("float32"), (name, "plain"))
    accumulated = checked(descents("float32", wrapped=True), (name, "accumulated"))
    np.testing.assert_allclose(accumulated[[0, 2, 4]], plain[:3], rtol=1e-6)
