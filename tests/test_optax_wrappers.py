"""optax's wrappers under their optax names: each against optax 0.2.8 over 20 jitted steps on a
small nested pytree (float32, and float64 under x64), with optax's own inner transforms and with
ours, and the state field names compared with optax's. Build-time errors, the frozen MLP layer
and the README's porting examples are in test_optax_wrappers_errors.py."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.contrib
import pytest
from optax_compare import STEPS, assert_close, compare, grads_at, start

import optim

LABELS = {"w": "adam", "rest": ["sgd", ("frozen",)]}


def labels_fn(params):
    return jax.tree.map(lambda x: "adam" if x.ndim == 2 else "sgd", params)


def even(step):
    return step % 2 == 0


def norm(updates):
    return jnp.sqrt(sum(jnp.sum(x * x) for x in jax.tree.leaves(updates)))


def multi(m, inner):
    return m.multi_transform(
        {"adam": inner.adam(0.01), "sgd": inner.sgd(0.1, 0.9), "frozen": m.set_to_zero()}, LABELS)


# name: a function of (the module under test, the module of the inner transforms)
CASES = {
    "multi_transform": multi,
    "multi_transform_fn": lambda m, inner: m.multi_transform(
        {"adam": inner.adam(0.01), "sgd": inner.sgd(0.1)}, labels_fn),
    "conditionally_transform": lambda m, inner: m.conditionally_transform(
        inner.scale_by_adam(), even),
    "conditionally_mask": lambda m, inner: m.conditionally_mask(inner.sgd(0.1, 0.9), even),
    "snapshot": lambda m, inner: m.chain(inner.sgd(0.1, 0.9), m.snapshot("norm", norm),
                                         inner.clip_by_global_norm(0.05)),
    "monitor": lambda m, inner: m.chain(inner.sgd(0.1, 0.9), m.monitor({
        "norm": norm, "clipped": m.measure_with_ema(lambda u: norm(u) > 0.3, decay=0.9),
    }), inner.clip_by_global_norm(0.3)),
    "measure_with_ema_no_debias": lambda m, inner: m.monitor({
        "leaves": m.measure_with_ema(lambda u: jax.tree.map(jnp.mean, u), 0.8, debias=False)}),
    "flatten": lambda m, inner: m.flatten(inner.adam(0.01)),
    "flatten_lamb": lambda m, inner: m.flatten(inner.lamb(0.01)),
    "MultiSteps_skip_not_finite": lambda m, inner: m.MultiSteps(
        inner.adam(0.01), 3, should_skip_update_fn=m.skip_not_finite),
    "MultiSteps_skip_large": lambda m, inner: m.MultiSteps(
        inner.sgd(0.1), 2, should_skip_update_fn=functools.partial(
            m.skip_large_updates, max_squared_norm=9.0)),
    "inject_hyperparams_dtype": lambda m, inner: m.inject_hyperparams(
        inner.adam, hyperparam_dtype=jnp.float32)(learning_rate=0.01),
    # optax 0.2.8's inject_stateful_hyperparams is a deprecated name of its inject_hyperparams
    "inject_stateful_hyperparams": lambda m, inner: (
        m.inject_stateful_hyperparams if m is optim else m.inject_hyperparams)(inner.sgd)(
        learning_rate=optim.WrappedSchedule(optax.linear_schedule(0.1, 0.01, 10)), momentum=0.9),
}
NANS = {"MultiSteps_skip_not_finite"}
# MultiSteps' accumulator holds the sum here, optax's the running mean: the updates, counts,
# inner states and skip_state are compared.
STATE = {"MultiSteps_skip_not_finite": lambda s: s._replace(acc_grads=()),
         "MultiSteps_skip_large": lambda s: s._replace(acc_grads=())}
# This library's inject_hyperparams keeps InjectHyperparamsState (no hyperparams_states);
# inject_stateful_hyperparams has optax 0.2.8's state.
OWN_STATE = {"inject_hyperparams_dtype"}
# The EMA of a boolean measure: optax keeps it in float32 with 1 - 0.9 rounded in Python.
RTOL = {"monitor": 1e-5, "multi_transform": 1e-5, "multi_transform_fn": 1e-5, "flatten": 1e-5,
        "flatten_lamb": 1e-5, "MultiSteps_skip_not_finite": 1e-5, "inject_hyperparams_dtype": 1e-5,
        "conditionally_transform": 1e-5}


def field_names(state):
    """The field names of every NamedTuple in a state, in order: the shape of its reading."""
    names = []

    def walk(node):
        if isinstance(node, tuple) and hasattr(node, "_fields"):
            names.append((type(node).__name__, node._fields))
        if isinstance(node, (tuple, list)):
            for child in node:
                walk(child)
        elif isinstance(node, dict):
            for key in sorted(node, key=repr):
                walk(node[key])

    walk(state)
    return names


@pytest.mark.parametrize("inner", ["optax_inner", "our_inner"])
@pytest.mark.parametrize("name", CASES)
def test_same_as_optax_float32(name, inner):
    make = CASES[name]
    inner_module = optax if inner == "optax_inner" else optim
    ours, theirs = make(optim, inner_module), make(optax, inner_module)
    nans = name in NANS
    mine = compare(ours, theirs, rtol=RTOL.get(name, 1e-6), atol=1e-6, nans=nans,
                   state=STATE.get(name, lambda s: s))
    if name in OWN_STATE:
        return
    reference_state = theirs.init(start(jnp.float32))
    mine_fields = {f[1] for f in field_names(mine[-1][1])}
    for kind, fields in field_names(reference_state):
        if kind in {"MultiTransformState", "PartitionState", "ConditionallyMaskState",
                    "ConditionallyTransformState", "MonitorState", "SnapshotState",
                    "MultiStepsState", "InjectStatefulHyperparamsState"}:
            assert fields in mine_fields, (kind, fields, mine_fields)


@pytest.mark.parametrize("name", ["multi_transform", "conditionally_mask", "monitor", "flatten",
                                  "MultiSteps_skip_large"])
def test_same_as_optax_float64(name, x64):
    make = CASES[name]
    if name.startswith("MultiSteps"):  # optax's accumulator is float32 unless told
        def make(m, inner):
            return m.MultiSteps(inner.sgd(0.1), 2, should_skip_update_fn=functools.partial(
                m.skip_large_updates, max_squared_norm=9.0), accumulator_dtype=jnp.float64)
    compare(make(optim, optim), make(optax, optim), jnp.float64, rtol=1e-10, atol=1e-12,
            state=STATE.get(name, lambda s: s))


def test_state_types_are_optax_field_for_field():
    pairs = [(optim.MultiTransformState, optax.MultiTransformState),
             (optim.ConditionallyMaskState, optax.ConditionallyMaskState),
             (optim.ConditionallyTransformState, optax.ConditionallyTransformState),
             (optim.MonitorState, optax.MonitorState), (optim.SnapshotState, optax.SnapshotState),
             (optim.InjectStatefulHyperparamsState, optax.InjectStatefulHyperparamsState),
             (optim.states.MultiStepsState, optax.MultiStepsState),
             (optim.LookaheadParams, optax.LookaheadParams),
             (optim.states.LookaheadPairState, optax.LookaheadState),
             (optim.states.AdversarialSAMState, optax.contrib.SAMState),
             (optim.states.InjectHyperparamsState, optax.InjectHyperparamsState)]
    for ours, theirs in pairs:
        assert ours._fields == theirs._fields, (ours, theirs)
    assert optim.multi_transform is optim.partition


def lookahead_run(module, fast, reset_state, dtype=jnp.float32):
    tx = module.lookahead(fast, sync_period=3, slow_step_size=0.4, reset_state=reset_state)
    params = module.LookaheadParams.init_synced(start(dtype))
    state = tx.init(params)

    def body(carry, t):
        params, state = carry
        grads = jax.tree.map(lambda p, g: p * g, params.fast, grads_at(0, dtype))
        grads = jax.tree.map(lambda g: g * (1.0 + 0.1 * t), grads)
        updates, state = tx.update(grads, state, params)
        params = module.apply_updates(params, updates)
        return (params, state), (params, state)

    return jax.jit(lambda c: jax.lax.scan(body, c, jnp.arange(STEPS, dtype=dtype)))(
        (params, state))[1]


@pytest.mark.parametrize("reset_state", [False, True])
@pytest.mark.parametrize("inner", [optax, optim])
def test_lookahead_pair_form_as_optax(reset_state, inner):
    ours = lookahead_run(optim, inner.adam(0.05), reset_state)
    theirs = lookahead_run(optax, inner.adam(0.05), reset_state)
    assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
    assert type(ours[1]).__name__ == "LookaheadPairState"
    assert ours[1]._fields == theirs[1]._fields == ("fast_state", "steps_since_sync")


def test_lookahead_both_forms_agree():
    """The fast-weights form and the pair form are one algorithm: same slow weights after a sync."""
    pair = lookahead_run(optim, optim.sgd(0.1), False)[0]
    tx = optim.lookahead(optim.sgd(0.1), 3, 0.4)
    params, state = start(jnp.float32), None
    state = tx.init(params)
    for t in range(6):
        factor = 1.0 + 0.1 * t
        grads = jax.tree.map(lambda p, g, f=factor: p * g * f, params, grads_at(0, jnp.float32))
        updates, state = tx.update(grads, state, params)
        params = optim.apply_updates(params, updates)
    assert_close(params, jax.tree.map(lambda x: x[5], pair.slow), rtol=1e-5, atol=1e-6)


def sam_run(module, opaque, dtype=jnp.float32):
    sam = optim.sam if module is optim else optax.contrib.sam
    adversary = optax.chain(optax.contrib.normalize(), optax.scale(0.05))
    tx = sam(optax.sgd(0.1, 0.9), adversary, sync_period=3, opaque_mode=opaque)
    params = start(dtype)
    target = grads_at(0, dtype)

    def grad_fn(p, i=0):
        return jax.tree.map(lambda p, t: (p - t) ** 3, p, target)

    def body(carry, _):
        params, state = carry
        updates, state = tx.update(grad_fn(params), state, params, grad_fn=grad_fn)
        params = optax.apply_updates(params, updates)
        return (params, state), (params, state)

    return jax.jit(lambda c: jax.lax.scan(body, c, None, length=STEPS))((params, tx.init(params)))[1]


@pytest.mark.parametrize("opaque", [False, True])
def test_sam_with_adv_optimizer_as_optax_contrib(opaque):
    ours, theirs = sam_run(optim, opaque), sam_run(optax, opaque)
    assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
    assert ours[1]._fields == theirs[1]._fields


def test_value_and_grad_from_state_with_lbfgs():
    """optim.lbfgs() with the stored value and gradient follows optax.lbfgs() with optax's."""
    def f(p):
        return jnp.sum((p["w"] - 0.3) ** 2 * jnp.arange(1.0, 13.0).reshape(3, 4)) + jnp.sum(
            p["rest"][0] ** 4) + (p["rest"][1][0] - 2.0) ** 2

    def run(module, tx):
        value_and_grad = module.value_and_grad_from_state(f)

        def body(carry, _):
            params, state = carry
            value, grad = value_and_grad(params, state=state)
            updates, state = tx.update(grad, state, params, value=value, grad=grad, value_fn=f)
            return (module.apply_updates(params, updates), state), value

        params = start(jnp.float32)
        return jax.jit(lambda c: jax.lax.scan(body, c, None, length=STEPS))(
            (params, tx.init(params)))

    (ours, _), our_values = run(optim, optim.lbfgs())
    (theirs, _), their_values = run(optax, optax.lbfgs())
    np.testing.assert_allclose(our_values[:8], their_values[:8], rtol=2e-4)
    assert float(our_values[-1]) < 1e-4 and float(their_values[-1]) < 1e-4
    assert_close(ours, theirs, rtol=1e-2, atol=1e-2)


def test_value_and_grad_from_state_reuses_the_stored_pair():
    """After a step the pair comes from the state, not from value_fn (here a different f)."""
    def f(p):
        return jnp.sum(p["rest"][0] ** 2)

    tx, params = optim.lbfgs(), start(jnp.float32)
    state = tx.init(params)
    value_and_grad = optim.value_and_grad_from_state(lambda p: f(p) + 100.0)
    value, grad = value_and_grad(params, state=state)  # inf in the fresh state: computed
    np.testing.assert_allclose(value, f(params) + 100.0, rtol=1e-6)
    value, grad = jax.value_and_grad(f)(params)
    updates, state = jax.jit(functools.partial(tx.update, value_fn=f))(
        grad, state, params, value=value, grad=grad)
    params = optim.apply_updates(params, updates)
    value, grad = jax.jit(value_and_grad)(params, state=state)
    np.testing.assert_allclose(value, f(params), rtol=1e-5)
    assert_close(grad, jax.grad(f)(params), rtol=1e-5, atol=1e-6)


def test_extra_args_types_interoperate_with_optax():
    value_tx = optim.reduce_on_plateau(patience=1, factor=0.5)
    # ours in optax.chain: wrapped in optax's class, the extras reach it.
    ported = optax.GradientTransformationExtraArgs(*value_tx)
    chain = optax.chain(optax.sgd(0.1), ported)
    params = start(jnp.float32)
    state = chain.init(params)
    for t in range(4):
        _, state = chain.update(grads_at(t, jnp.float32), state, params, value=jnp.asarray(1.0))
    assert float(optim.get_field(state, "scale")) < 1.0
    # optax's in optim.chain, and optax's class read as ours.
    theirs = optax.contrib.reduce_on_plateau(patience=1, factor=0.5)
    ours = optim.GradientTransformationExtraArgs(*theirs)
    assert isinstance(ours, optim.GradientTransformation)
    assert isinstance(ours, optim.GradientTransformationExtraArgs)
    chain = optim.chain(optim.sgd(0.1), ours)
    state = chain.init(params)
    for t in range(4):
        _, state = chain.update(grads_at(t, jnp.float32), state, params, value=jnp.asarray(1.0))
    assert float(state[1].scale) < 1.0
