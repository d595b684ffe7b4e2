"""The contract every optimizer and transform of `optim` keeps, checked from one registry
(contract_registry.py).

For each entry, on the quadratic `loss` below: init and update under jit keep the params' tree,
shapes and dtypes (float32, float64 under x64, bfloat16) in the updates; the state's shapes,
dtypes and weak types do not change from step to step, so step two does not retrace
(chex.assert_max_traces); the updates are finite; eagerly (no jit) it computes what it computes
under jit, on both steps; injected (inject_hyperparams) inside a `chain` it computes the same
thing. Every update is given the keyword extras `value=`, `grad=` and `value_fn=` (the line
searches, Newton and reduce_on_plateau read them; the others must ignore them). Each entry that
can run on part of the params also runs inside `MultiSteps(partition(...), k=2)` with a frozen
group (test_contract_groups.py), and each optimizer descends a quadratic in four jitted steps,
inside a partition too, and accumulated by MultiSteps (test_contract_descent.py).

To keep the suite fast, all entries of one dtype are compiled together as one program (once
per module, in a fixture), the injected ones as another; the tests then check each entry on
its own.
"""

import functools
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from contract_harness import avals, fast_jit, raise_if_broken, traceable
from contract_registry import NOT_OPTIMIZERS, REGISTRY, Entry
from optim_helpers import params_like

import optim


def test_every_exported_optimizer_is_registered():
    covered = {
        name for name in optim.__all__
        if any(getattr(optim, name) is e.factory for e in REGISTRY.values())
    }
    states = {
        name for name in optim.__all__
        if name.endswith("State") and isinstance(getattr(optim, name), type)
    }
    unclassified = set(optim.__all__) - covered - states - NOT_OPTIMIZERS
    assert not unclassified, (
        f"exported names missing from contract_registry.py's REGISTRY (or NOT_OPTIMIZERS): "
        f"{sorted(unclassified)}"
    )
    stale = NOT_OPTIMIZERS - set(optim.__all__)
    assert not stale, f"names listed in contract_registry.py but no longer exported: {sorted(stale)}"
    assert not (covered & NOT_OPTIMIZERS), f"registered and in NOT_OPTIMIZERS: {sorted(covered & NOT_OPTIMIZERS)}"


def test_registry_factories_are_exported():
    exported = {id(getattr(optim, name)) for name in optim.__all__}
    assert all(id(e.factory) in exported for e in REGISTRY.values())


# -- running every entry ---------------------------------------------------------------------


def loss(params):
    """A quadratic with a different curvature per leaf, computed in at least float32: the
    objective every entry descends (and the `value_fn` of the line searches and Newton)."""
    leaves = jax.tree.leaves(params)
    return sum(
        jnp.sum((i + 1.0) * (x.astype(jnp.promote_types(x.dtype, jnp.float32)) - 0.3) ** 2)
        for i, x in enumerate(leaves)
    )


def variants(how):
    """The transforms run, keyed by (name, how), with their entries: every entry as it is
    ("plain"), or injected (inject_hyperparams) inside a chain ("wrapped", in float32)."""
    if how == "plain":
        return {(name, how): (e.build, e) for name, e in REGISTRY.items()}
    return {
        (name, how): (
            lambda e=e: optim.chain(optim.identity(), e.build_injected(), optim.identity()),
            e,
        )
        for name, e in REGISTRY.items()
    }


class Run(NamedTuple):
    params: dict  # the params of step one, per transform
    updates: tuple  # the updates of steps one and two, per transform
    states: tuple  # the states after init, step one and step two, per transform
    broken: dict  # the transforms that failed to build or trace, with their error
    retrace_error: Exception | None


def one_step(tx, params, state, e: Entry):
    """One update with every keyword extra a transform may read (value=, grad=, value_fn=; the
    others must ignore them); a line search is given the descent direction -grad."""
    value, grad = jax.value_and_grad(loss)(params)
    direction = jax.tree.map(jnp.negative, grad) if e.descent else grad
    return tx.update(direction, state, params, value=value, grad=grad, value_fn=loss)


def run(dtype_name, how="plain") -> Run:
    """Two steps of every transform of `variants(how)` (the params moved by the first step's
    updates before the second), init and update each compiled once for all transforms."""
    example = params_like(jnp.dtype(dtype_name), seed=5)

    def select(e):
        return e.select(example) if e.select else example

    def trace(tx, e):
        return one_step(tx, select(e), tx.init(select(e)), e)

    built, broken = traceable(variants(how), trace)
    transforms = {name: tx for name, (tx, _) in built.items()}
    entries = {name: e for name, (_, e) in built.items()}
    params = {name: select(e) for name, e in entries.items()}

    def update_all(params, states):
        out = {
            name: one_step(tx, params[name], states[name], entries[name])
            for name, tx in transforms.items()
        }
        updates = {n: u for n, (u, _) in out.items()}
        moved = {n: optim.apply_updates(params[n], updates[n]) for n in out}
        return moved, updates, {n: s for n, (_, s) in out.items()}

    init_all = fast_jit(lambda ps: {name: tx.init(ps[name]) for name, tx in transforms.items()})
    chex.clear_trace_counter()  # chex counts by function; update_all is traced once per run
    step = fast_jit(chex.assert_max_traces(update_all, n=1))
    state0 = init_all(params)
    params1, updates1, state1 = step(params, state0)
    retrace_error = None
    try:
        _, updates2, state2 = step(params1, state1)
    except AssertionError as error:  # reported by test_no_retrace_on_step_two
        retrace_error = error
        _, updates2, state2 = fast_jit(update_all)(params1, state1)
    return Run(params, (updates1, updates2), (state0, state1, state2), broken, retrace_error)


@pytest.fixture(scope="module")
def runs():
    """`run` of a dtype's name (and "wrapped" for the injected ones), computed the first time a
    test of this module asks for it (under the `dtype` fixture's x64 mode) and kept until the
    module's last test."""
    cached = functools.cache(run)
    return lambda dtype_name, how="plain": cached(dtype_name, how)


def result_for(runs, dtype, name, how="plain") -> Run:
    result = runs(jnp.dtype(dtype).name, how)
    raise_if_broken(result.broken, (name, how))
    return result


@pytest.mark.parametrize("name", REGISTRY)
def test_updates_keep_tree_shapes_and_dtypes(name, dtype, runs):
    result = result_for(runs, dtype, name)
    for updates in result.updates:
        chex.assert_trees_all_equal_shapes_and_dtypes(updates[name, "plain"], result.params[name, "plain"])
        assert all(bool(jnp.all(jnp.isfinite(u))) for u in jax.tree.leaves(updates[name, "plain"]))


@pytest.mark.parametrize("name", REGISTRY)
def test_state_shapes_and_dtypes_are_stable(name, dtype, runs):
    states = [s[name, "plain"] for s in result_for(runs, dtype, name).states]
    assert jax.tree.structure(states[0]) == jax.tree.structure(states[1]) == jax.tree.structure(states[2])
    assert avals(states[0]) == avals(states[1]) == avals(states[2]), (
        f"{name}: the state changes shape, dtype or weak type between steps (a retrace)"
    )


def test_no_retrace_on_step_two(dtype, runs):
    error = runs(jnp.dtype(dtype).name).retrace_error
    assert error is None, f"the second step retraced: {error}"


@pytest.mark.slow
def test_no_retrace_on_step_two_injected(runs):
    error = runs("float32", "wrapped").retrace_error
    assert error is None, f"the second step of the injected entries retraced: {error}"


@pytest.mark.slow
@pytest.mark.parametrize("name", REGISTRY)
def test_eager_equals_jit(name, runs):
    """Both steps run eagerly (op by op) give the jitted updates (the wrappers that accumulate,
    sync or ascend on one step and act on the next are checked on both)."""
    result = result_for(runs, jnp.float32, name)
    e = REGISTRY[name]
    tx, params = e.build(), result.params[name, "plain"]
    state = tx.init(params)
    for step in range(2):
        updates, state = one_step(tx, params, state, e)
        jitted = result.updates[step][name, "plain"]
        chex.assert_trees_all_equal_shapes_and_dtypes(updates, jitted)
        for eager, compiled in zip(jax.tree.leaves(updates), jax.tree.leaves(jitted), strict=True):
            scale = 1 + float(jnp.max(jnp.abs(compiled)))
            np.testing.assert_allclose(
                eager, compiled, rtol=e.rtol, atol=1e-6 * scale, err_msg=f"step {step + 1}"
            )
        params = optim.apply_updates(params, updates)


@pytest.mark.slow
@pytest.mark.parametrize("name", REGISTRY)
def test_same_updates_injected_inside_a_chain(name, runs):
    """`chain(identity(), inject_hyperparams(factory)(...), identity())` computes what
    `factory(...)` computes: both wrappers at once (one compilation instead of two); the given
    floats are injected, no integer is."""
    result = result_for(runs, jnp.float32, name, "wrapped")
    plain_result = result_for(runs, jnp.float32, name)
    for step in range(2):
        plain, wrapped = plain_result.updates[step][name, "plain"], result.updates[step][name, "wrapped"]
        chex.assert_trees_all_equal_shapes_and_dtypes(plain, wrapped)
        for a, b in zip(jax.tree.leaves(plain), jax.tree.leaves(wrapped), strict=True):
            np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-7)
    state = result.states[1][name, "wrapped"]
    assert int(state[1].count) == 1  # the injected state, readable by name
    given = {k for k, v in REGISTRY[name].kwargs.items() if isinstance(v, float)}
    assert given - set(REGISTRY[name].static_args) <= set(state[1].hyperparams)
    # Floats are injected; integers of integer parameters stay static.
    injected = {k: jnp.result_type(v) for k, v in state[1].hyperparams.items()}
    assert not {k: d for k, d in injected.items() if jnp.issubdtype(d, jnp.integer)}


@pytest.mark.parametrize("name", REGISTRY)
def test_init_gives_every_state_field_its_own_buffer(name):
    """A step that donates params and state (`nets.make_train_step`, `optim.fused_step`) fails
    when two leaves share a buffer ("Attempt to donate the same buffer twice"): init must give
    each field, and each field apart from the params, a buffer of its own."""
    e = REGISTRY[name]
    params = params_like()
    if e.select is not None:
        params = e.select(params)
    state = e.build().init(params)
    leaves = [x for x in jax.tree.leaves((params, state)) if isinstance(x, jax.Array) and x.size]
    pointers = [x.unsafe_buffer_pointer() for x in leaves]
    assert len(set(pointers)) == len(pointers), f"{name}: two leaves share a buffer"
