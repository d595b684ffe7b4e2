"""optim/base.py, combine.py and state.py: composition, keyword extras, applying updates and
reading or setting named fields of a nested state."""

from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference as ref
from optim_helpers import flat, params_like, run_sequence, sequence

import optim
from optim._core import combine


class RecordState(NamedTuple):
    seen: dict


def recorder():
    """A transform that stores the extras it receives (it takes `**extra`)."""

    def update(updates, state, params=None, **extra):
        return updates, RecordState({k: jnp.asarray(v, jnp.float32) for k, v in extra.items()})

    return optim.GradientTransformation(lambda params: RecordState({}), update)


def value_only():
    """A foreign transform: its update declares `value` and nothing else, so it raises a
    TypeError if it is given any other keyword."""

    def update(updates, state, params=None, *, value=None):
        seen = {} if value is None else {"value": jnp.asarray(value, jnp.float32)}
        return updates, RecordState(seen)

    return optim.GradientTransformation(lambda params: RecordState({}), update)


# -- chain, named_chain, identity, stateless -----------------------------------------------------


def test_chain_applies_transforms_in_order():
    grads_np, grads = sequence(50, seed=1)
    # Order matters: scaling then clipping is not clipping then scaling.
    for transforms, want in [
        ((optim.scale(3.0), optim.clip(1.0)), ref.clip(ref.scale(flat(grads_np), 3.0), 1.0)),
        ((optim.clip(1.0), optim.scale(3.0)), ref.scale(ref.clip(flat(grads_np), 1.0), 3.0)),
        (
            (optim.trace(0.9), optim.clip_by_global_norm(2.0), optim.scale_by_learning_rate(0.1)),
            ref.scale_by_learning_rate(
                ref.clip_by_global_norm(ref.trace(flat(grads_np), 0.9), 2.0), 0.1
            ),
        ),
    ]:
        updates, state = run_sequence(optim.chain(*transforms), grads)
        np.testing.assert_allclose(flat(updates), want, rtol=1e-5, atol=1e-6)
        assert isinstance(state, tuple) and len(state) == len(transforms)


def test_chain_state_is_the_tuple_of_the_parts_states():
    params = params_like()
    state = optim.chain(optim.trace(0.9), optim.scale(2.0)).init(params)
    assert isinstance(state[0], optim.TraceState) and isinstance(state[1], optim.EmptyState)


def test_empty_chain_is_the_identity():
    params = params_like()
    tx = optim.chain()
    updates, state = tx.update(params, tx.init(params))
    assert updates is params and state == ()


def test_chain_rejects_non_transforms_and_wrong_states():
    with pytest.raises(TypeError, match="chain argument 1 must be a GradientTransformation"):
        optim.chain(optim.scale(1.0), lambda g: g)
    tx = optim.chain(optim.scale(1.0), optim.trace(0.5))
    params = params_like()
    with pytest.raises(ValueError, match="chain of 2 transforms got a state of 1 parts"):
        tx.update(params, (optim.EmptyState(),))


def test_chain_init_rejects_integer_params():
    with pytest.raises(TypeError, match=r"\['count'\] has dtype int32"):
        optim.chain(optim.scale(1.0)).init({"w": jnp.zeros(2), "count": jnp.zeros(2, jnp.int32)})


def test_named_chain_equals_chain_and_keeps_the_given_order():
    grads_np, grads = sequence(50, seed=2)
    # Names in reverse alphabetical order: the state dict is sorted by jax, the order of
    # application must not be.
    named = optim.named_chain(("zz_scale", optim.scale(3.0)), ("aa_clip", optim.clip(1.0)))
    updates, state = run_sequence(named, grads)
    np.testing.assert_allclose(
        flat(updates), ref.clip(ref.scale(flat(grads_np), 3.0), 1.0), rtol=1e-6
    )
    assert set(state) == {"zz_scale", "aa_clip"}
    plain, _ = run_sequence(optim.chain(optim.scale(3.0), optim.clip(1.0)), grads)
    np.testing.assert_array_equal(flat(updates), flat(plain))


def test_named_chain_state_is_readable_by_name():
    tx = optim.named_chain(("clip", optim.clip_by_global_norm(1.0)), ("adam", optim.adam(0.1)))
    state = tx.init(params_like())
    assert isinstance(state["adam"][0], optim.ScaleByAdamState)
    assert optim.get_field(state["adam"], "mu") is state["adam"][0].mu


def test_named_chain_errors():
    with pytest.raises(ValueError, match="names must be unique"):
        optim.named_chain(("a", optim.scale(1.0)), ("a", optim.clip(1.0)))
    with pytest.raises(TypeError, match="named_chain entry 'b'"):
        optim.named_chain(("a", optim.scale(1.0)), ("b", 3))
    tx = optim.named_chain(("a", optim.scale(1.0)))
    with pytest.raises(ValueError, match="expects state keys"):
        tx.update(params_like(), {"b": optim.EmptyState()})
    with pytest.raises(TypeError, match="has dtype int32"):
        tx.init({"w": jnp.zeros(2, jnp.int32)})


def test_identity_and_stateless():
    params, grads = params_like(seed=1), params_like(seed=2)
    updates, state = jax.jit(optim.identity().update)(grads, optim.identity().init(params))
    np.testing.assert_array_equal(flat(jax.tree.map(lambda x: x[None], updates)), flat(
        jax.tree.map(lambda x: x[None], grads)))
    assert state == optim.EmptyState()

    tx = optim.stateless(lambda u, p: jax.tree.map(lambda a, b: a + 2 * b, u, p))
    updates, state = jax.jit(tx.update)(grads, tx.init(params), params)
    want = flat(jax.tree.map(lambda x: x[None], grads)) + 2 * flat(
        jax.tree.map(lambda x: x[None], params)
    )
    np.testing.assert_allclose(flat(jax.tree.map(lambda x: x[None], updates)), want, rtol=1e-6)
    assert state == optim.EmptyState()


# -- apply_updates ---------------------------------------------------------------------------


def test_apply_updates_keeps_each_params_dtype_and_rounds_once():
    params = {"a": jnp.asarray([1.0, 256.0, -3.0], jnp.bfloat16), "b": jnp.ones(2, jnp.float32)}
    updates = {"a": jnp.asarray([1e-3, 0.75, 0.999], jnp.float32), "b": jnp.ones(2, jnp.bfloat16)}
    new = jax.jit(optim.apply_updates)(params, updates)
    assert new["a"].dtype == jnp.bfloat16 and new["b"].dtype == jnp.float32
    # Summed in float32, rounded once to bfloat16.
    want = (params["a"].astype(jnp.float32) + updates["a"]).astype(jnp.bfloat16)
    np.testing.assert_array_equal(np.asarray(new["a"], np.float32), np.asarray(want, np.float32))
    np.testing.assert_array_equal(new["b"], np.full(2, 2.0, np.float32))


def test_apply_updates_on_nested_trees_matches_numpy():
    params, updates = params_like(seed=1), params_like(seed=2)
    new = optim.apply_updates(params, updates)
    assert jax.tree.structure(new) == jax.tree.structure(params)
    expand = lambda t: jax.tree.map(lambda x: x[None], t)
    np.testing.assert_allclose(
        flat(expand(new)), flat(expand(params)) + flat(expand(updates)), rtol=1e-6
    )


def test_apply_updates_mismatch_names_both_sides():
    with pytest.raises(ValueError, match="params and updates have different tree structures"):
        optim.apply_updates({"a": jnp.zeros(2)}, {"b": jnp.zeros(2)})
    with pytest.raises(ValueError, match=r"params has \(2,\), updates has \(3,\)"):
        optim.apply_updates({"a": jnp.zeros(2)}, {"a": jnp.zeros(3)})


# -- keyword extras through chains ------------------------------------------------------------


def test_extras_reach_every_transform_that_takes_them():
    params = params_like()
    tx = optim.chain(recorder(), optim.adam(0.1), recorder())
    state = tx.init(params)
    value_fn = lambda p: 0.0  # a Python callable passes through untouched (not stored)
    _, state = jax.jit(lambda g, s, p, v: tx.update(g, s, p, value=v, other=2.0))(
        params, state, params, jnp.float32(1.5)
    )
    assert state[0].seen == {"value": 1.5, "other": 2.0}
    assert state[2].seen == {"value": 1.5, "other": 2.0}
    # Eagerly, with a callable extra (line searches pass value_fn).
    seen = {}

    def spy(updates, state, params=None, *, value_fn=None):
        seen["value_fn"] = value_fn
        return updates, state

    spying = optim.chain(optim.GradientTransformation(lambda p: optim.EmptyState(), spy))
    spying.update(params, spying.init(params), params, value=1.0, value_fn=value_fn)
    assert seen["value_fn"] is value_fn


def test_foreign_transform_gets_only_the_keywords_it_declares():
    params = params_like()
    # `value_only` would raise TypeError if it were given `value_fn`, `strict` if given anything.
    strict = optim.GradientTransformation(
        lambda p: optim.EmptyState(), lambda updates, state, params=None: (updates, state)
    )
    for compose in (
        lambda *t: optim.chain(*t),
        lambda *t: optim.named_chain(*[(f"t{i}", x) for i, x in enumerate(t)]),
    ):
        tx = compose(value_only(), strict, optim.sgd(0.1))
        state = tx.init(params)
        updates, state = tx.update(params, state, params, value=2.5, value_fn=lambda p: 0.0)
        first = state[0] if isinstance(state, tuple) else state["t0"]
        assert first.seen == {"value": 2.5}
        np.testing.assert_allclose(updates["b"], -0.1 * params["b"], rtol=1e-6)
        # Without extras the foreign transform is called without keywords.
        _, state = tx.update(params, state, params)
        first = state[0] if isinstance(state, tuple) else state["t0"]
        assert first.seen == {}


def test_extras_filter_of_an_uninspectable_update():
    # A builtin has no inspectable signature: it gets no extras.
    tx = optim.GradientTransformation(lambda p: None, max)
    keep = combine._extras_filter(tx.update)
    assert keep({"value": 1.0}) == {}


# -- get_field, find_fields, set_field --------------------------------------------------------


def nested_state():
    tx = optim.chain(optim.clip_by_global_norm(1.0), optim.inject_hyperparams(optim.adam)(0.1))
    return tx, tx.init(params_like())


def test_find_and_get_fields_by_name():
    tx, state = nested_state()
    counts = optim.find_fields(state, "count")
    assert sorted(counts) == ["[1].count", "[1].inner_state[0].count"]
    assert float(optim.get_field(state, "learning_rate")) == pytest.approx(0.1)
    mu = optim.get_field(state, "mu")
    assert jax.tree.structure(mu) == jax.tree.structure(params_like())
    assert optim.get_field(state, "nowhere", default=None) is None
    # A dict key is a field too, and a matched field is not searched further.
    assert set(optim.get_field(state, "hyperparams")) >= {"learning_rate", "b1", "b2", "eps"}


def test_get_field_errors_name_the_problem():
    _, state = nested_state()
    with pytest.raises(KeyError, match="no field named 'momentum'"):
        optim.get_field(state, "momentum")
    with pytest.raises(KeyError, match=r"several fields named 'count'.*\[1\]\.count"):
        optim.get_field(state, "count")


def test_set_field_replaces_every_occurrence_and_keeps_dtypes():
    _, state = nested_state()
    new = optim.set_field(state, count=7, learning_rate=np.float64(0.05))
    assert all(int(c) == 7 and c.dtype == jnp.int32 for c in optim.find_fields(new, "count").values())
    lr_old = optim.get_field(state, "learning_rate")
    lr_new = optim.get_field(new, "learning_rate")
    assert lr_new.dtype == lr_old.dtype and lr_new.shape == lr_old.shape
    assert lr_new.weak_type == lr_old.weak_type
    assert float(lr_new) == pytest.approx(0.05)
    # The original is untouched.
    assert float(optim.get_field(state, "learning_rate")) == pytest.approx(0.1)
    assert jax.tree.structure(new) == jax.tree.structure(state)


def test_set_field_errors():
    _, state = nested_state()
    with pytest.raises(KeyError, match="no field named"):
        optim.set_field(state, momentum=0.9)
    with pytest.raises(ValueError):
        # A (2,)-array does not fit a scalar field: refused, not silently broadcast.
        optim.set_field(state, learning_rate=jnp.ones(2))


def test_set_field_does_not_retrace_a_jitted_update():
    tx, state = nested_state()
    params = params_like()

    @jax.jit
    @chex.assert_max_traces(n=1)
    def step(grads, state):
        return tx.update(grads, state, params)

    updates, state = step(params, state)
    for value in (0.05, np.float32(0.02), jnp.asarray(0.01), 0):
        state = optim.set_field(state, learning_rate=value)
        updates, state = step(params, state)
        assert float(optim.get_field(state, "learning_rate")) == pytest.approx(float(value))
    # The last learning rate was 0: the updates are exactly zero.
    assert all(not np.any(np.asarray(u)) for u in jax.tree.leaves(updates))
