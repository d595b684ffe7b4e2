"""The contract of `optim` (test_contract.py) for `optim.contrib`'s optimizers: under jit the
updates keep the params' tree, shapes and dtypes (float32 and bfloat16); the state keeps its
shapes, dtypes and weak types from step to step, so the second step does not retrace; the
updates are finite; eagerly it computes what it computes under jit; and init gives every state
field a buffer of its own. Every update is given `value=` and `obj_fn=` (momo and sophia read
them; the others ignore them)."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optim
from optim import contrib


def loss(params):
    leaves = jax.tree.leaves(params)
    return sum(jnp.sum((i + 1.0) * (x.astype(jnp.float32) - 0.3) ** 2)
               for i, x in enumerate(leaves))


def params_like(dtype):
    rng = np.random.default_rng(0)
    make = lambda *shape: jnp.asarray(rng.normal(size=shape), dtype)  # noqa: E731
    return {"w": make(4, 3), "deep": [make(3, 5), (make(2, 3),)]}


# name -> the optimizer, built with small steps
ENTRIES = {
    "adopt": lambda: contrib.adopt(1e-2),
    "acprop": lambda: contrib.acprop(1e-2),
    "ademamix": lambda: contrib.ademamix(1e-2),
    "simplified_ademamix": lambda: contrib.simplified_ademamix(1e-2),
    "prodigy": lambda: contrib.prodigy(),
    "dadapt_adamw": lambda: contrib.dadapt_adamw(),
    "dog": lambda: contrib.dog(),
    "dowg": lambda: contrib.dowg(),
    "cocob": lambda: contrib.cocob(),
    "mechanize": lambda: contrib.mechanize(optim.adam(1e-2)),
    "madgrad": lambda: contrib.madgrad(1e-2),
    "momo": lambda: contrib.momo(),
    "momo_adam": lambda: contrib.momo_adam(),
    "sophia": lambda: contrib.sophia(1e-2),
    "galore": lambda: contrib.galore(1e-2),
    "muon": lambda: contrib.muon(1e-2),
    "normalize": lambda: contrib.normalize(),
    "reduce_on_plateau": lambda: optim.chain(optim.sgd(0.1), contrib.reduce_on_plateau()),
    "schedule_free_adamw": lambda: contrib.schedule_free_adamw(1e-2),
}


def step(tx, params, state):
    value, grads = jax.value_and_grad(loss)(params)
    return tx.update(grads, state, params, value=value, obj_fn=loss)


def avals(tree):
    return [(x.shape, x.dtype, getattr(x, "weak_type", False)) for x in jax.tree.leaves(tree)]


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16], ids=["float32", "bfloat16"])
@pytest.mark.parametrize("name", ENTRIES)
def test_jitted_steps_keep_tree_dtypes_and_state_layout(name, dtype):
    tx = ENTRIES[name]()
    params = params_like(dtype)
    state = tx.init(params)
    chex.clear_trace_counter()  # chex counts by the function's code, shared by the cases
    jitted = jax.jit(chex.assert_max_traces(lambda p, s: step(tx, p, s), n=1))
    first = avals(state)
    for _ in range(3):  # the second and third steps must not retrace
        updates, state = jitted(params, state)
        chex.assert_trees_all_equal_shapes_and_dtypes(updates, params)
        assert avals(state) == first, f"{name}: the state changed shape, dtype or weak type"
        assert all(bool(jnp.all(jnp.isfinite(u))) for u in jax.tree.leaves(updates)), name
        params = optim.apply_updates(params, updates)


@pytest.mark.parametrize("name", ENTRIES)
def test_eager_equals_jit_and_buffers_are_distinct(name):
    tx = ENTRIES[name]()
    params = params_like(jnp.float32)
    state = tx.init(params)
    leaves = [x for x in jax.tree.leaves((params, state)) if isinstance(x, jax.Array) and x.size]
    pointers = [x.unsafe_buffer_pointer() for x in leaves]
    assert len(set(pointers)) == len(pointers), f"{name}: two leaves share a buffer"
    eager = step(tx, params, state)
    jitted = jax.jit(lambda p, s: step(tx, p, s))(params, state)
    chex.assert_trees_all_close(eager, jitted, rtol=1e-5, atol=1e-6)
