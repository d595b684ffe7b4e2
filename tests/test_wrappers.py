"""Wrappers (optim/partition.py, wrappers.py, accumulate.py, lookahead.py) and momentum
schedules: each against a NumPy reference or an equivalence, over many jitted steps on nested
pytrees."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import reference as ref
from jax.experimental import checkify
from optim_helpers import example_tree, flat, run_sequence, sequence

import optim

STEPS = 25


def leaves_of(tree_sequence):
    return [np.asarray(leaf, np.float64) for leaf in jax.tree.leaves(tree_sequence)]


def rows(leaf_sequence):
    """(T, n) float64 of one leaf's sequence."""
    leaf_sequence = np.asarray(leaf_sequence, np.float64)
    return leaf_sequence.reshape(len(leaf_sequence), -1)


# ----------------------------------------------------------------- partition, masked, set_to_zero

LABELS = {"w": "adam", "b": "sgd", "deep": ["frozen", ("adam", "sgd")]}


def three_groups():
    return {
        "adam": optim.adam(0.01),
        "sgd": optim.sgd(0.1, momentum=0.9),
        "frozen": optim.set_to_zero(),
    }


@pytest.mark.parametrize(
    "labels",
    [LABELS, lambda params: LABELS],
    ids=["tree", "function"],
)
def test_partition_runs_each_group_on_its_own_leaves(labels):
    g64, g = sequence(STEPS, seed=1)
    updates, state = run_sequence(optim.partition(three_groups(), labels), g)
    got = dict(zip(["b", "d0", "d1", "d2", "w"], leaves_of(updates), strict=True))
    src = dict(zip(["b", "d0", "d1", "d2", "w"], leaves_of(g64), strict=True))
    # Adam sees the leaves labelled "adam" together (one tree), SGD likewise.
    adam_rows = np.concatenate([rows(src["w"]), rows(src["d1"])], axis=1)
    expected = ref.adam(adam_rows, 0.01)
    np.testing.assert_allclose(np.concatenate([rows(got["w"]), rows(got["d1"])], axis=1), expected, rtol=1e-4, atol=1e-7)
    sgd_rows = np.concatenate([rows(src["b"]), rows(src["d2"])], axis=1)
    np.testing.assert_allclose(
        np.concatenate([rows(got["b"]), rows(got["d2"])], axis=1),
        ref.sgd(sgd_rows, 0.1, momentum=0.9),
        rtol=1e-5,
        atol=1e-7,
    )
    np.testing.assert_array_equal(got["d0"], 0.0)
    # A group holds state for its own leaves only; the frozen group holds none.
    assert state.inner_states["frozen"] == optim.EmptyState()
    adam_mu = optim.get_field(state.inner_states["adam"], "mu")
    assert isinstance(adam_mu["b"], optim.MaskedNode)
    assert isinstance(adam_mu["deep"][0], optim.MaskedNode)
    assert adam_mu["w"].shape == (3, 2)


def test_frozen_group_allocates_no_state():
    params = {"encoder": {"w": jnp.zeros((100, 100)), "b": jnp.zeros(100)}, "head": jnp.zeros((100, 3))}
    tx = optim.partition(
        {"train": optim.adam(1e-3), "frozen": optim.set_to_zero()},
        {"encoder": "frozen", "head": "train"},  # a prefix of the params
    )
    state = tx.init(params)
    sizes = [np.size(leaf) for leaf in jax.tree.leaves(state)]
    assert sum(sizes) == 2 * 300 + 1  # Adam's mu and nu of the head, and its count


def test_partition_forwards_extras_and_checks_labels():
    params = {"a": jnp.ones(2), "b": jnp.ones(2)}
    tx = optim.partition(
        {"x": optim.chain(optim.sgd(1.0), optim.reduce_on_plateau(patience=1)), "y": optim.sgd(1.0)},
        {"a": "x", "b": "y"},
    )
    state = tx.init(params)
    update = jax.jit(tx.update)
    for value in (1.0, 2.0):
        updates, state = update(params, state, params, value=value)
    np.testing.assert_allclose(updates["a"], -0.1)  # cut by 10 after one value without improvement
    np.testing.assert_allclose(updates["b"], -1.0)
    with pytest.raises(ValueError, match=r"labels 'z' that have no transform"):
        optim.partition({"x": optim.sgd()}, {"a": "x", "b": "z"}).init(params)
    with pytest.raises(ValueError, match="param_labels must have the structure of the params"):
        optim.partition({"x": optim.sgd()}, {"a": "x"}).init(params)
    with pytest.raises(TypeError, match="transforms"):
        optim.partition({}, {})


def test_masked_applies_inner_to_the_masked_leaves_and_passes_the_others():
    g64, g = sequence(STEPS, seed=2)
    mask = {"w": True, "b": False, "deep": [False, (True, True)]}
    updates, state = run_sequence(optim.masked(optim.adam(0.01), mask), g)
    got, src = leaves_of(updates), leaves_of(g64)
    chosen = [2, 3, 4]  # leaf order: b, deep0, deep1, deep2, w
    expected = ref.adam(np.concatenate([rows(src[i]) for i in chosen], axis=1), 0.01)
    np.testing.assert_allclose(np.concatenate([rows(got[i]) for i in chosen], axis=1), expected, rtol=1e-4, atol=1e-7)
    for i in (0, 1):
        np.testing.assert_array_equal(got[i], src[i])
    assert isinstance(optim.get_field(state, "mu")["b"], optim.MaskedNode)


def test_masked_keeps_non_float_leaves_out():
    params = {"w": jnp.ones(3), "step": jnp.array(7, jnp.int32)}
    tx = optim.masked(optim.adam(0.1), lambda p: jax.tree.map(lambda x: jnp.issubdtype(x.dtype, jnp.floating), p))
    state = tx.init(params)
    grads = {"w": jnp.ones(3), "step": jnp.array(0, jnp.int32)}
    updates, _ = jax.jit(tx.update)(grads, state, params)
    np.testing.assert_allclose(updates["w"], -0.1, rtol=1e-5)
    assert updates["step"].dtype == jnp.int32
    with pytest.raises(TypeError, match="mask leaves must be Python booleans"):
        optim.masked(optim.sgd(), {"w": jnp.array(True), "step": False}).init(params)


def test_optax_transforms_inside_partition_and_masked_inside_optax():
    _, g = sequence(STEPS, seed=9)
    groups = {"adam": optax.adam(0.01), "sgd": optax.sgd(0.1, momentum=0.9), "frozen": optax.set_to_zero()}
    theirs, _ = run_sequence(optim.partition(groups, LABELS), g)
    ours, _ = run_sequence(optim.partition(three_groups(), LABELS), g)
    np.testing.assert_allclose(flat(theirs), flat(ours), rtol=1e-5, atol=1e-8)
    mask = {"w": True, "b": False, "deep": [False, (True, True)]}
    inside_optax = optax.chain(optim.masked(optim.scale_by_adam(), mask), optax.scale(-0.01))
    all_optax = optax.chain(optax.masked(optax.scale_by_adam(), mask), optax.scale(-0.01))
    np.testing.assert_allclose(
        flat(run_sequence(inside_optax, g)[0]), flat(run_sequence(all_optax, g)[0]), rtol=1e-5, atol=1e-8
    )


# ----------------------------------------------------------------- apply_if_finite


def poisoned(g, bad_steps, value):
    """The gradient sequence with one entry of each bad step replaced by `value`."""
    return jax.tree.map(lambda x: x, g) | {
        "w": g["w"].at[jnp.asarray(bad_steps), 0, 0].set(value)
    }


def test_apply_if_finite_skips_bad_steps_and_leaves_the_state_unchanged():
    g64, g = sequence(STEPS, seed=3)
    bad = [3, 4, 10, 17, 18]
    bad_g = poisoned(g, bad, jnp.nan)
    bad_g["b"] = bad_g["b"].at[10, 1].set(jnp.inf)
    updates, state = run_sequence(optim.apply_if_finite(optim.adam(0.01), 3), bad_g)
    good = [t for t in range(STEPS) if t not in bad]
    # The same as Adam on the finite steps alone, and zeros on the others.
    expected = ref.adam(flat(g64)[good], 0.01)
    np.testing.assert_allclose(flat(updates)[good], expected, rtol=1e-4, atol=1e-7)
    np.testing.assert_array_equal(flat(updates)[bad], 0.0)
    assert int(state.total_notfinite) == 5
    assert int(state.notfinite_count) == 0  # reset by the finite steps after step 18
    assert not bool(state.gave_up)
    assert int(state.count) == STEPS
    optim.raise_if_gave_up(state)  # nothing to report


def test_apply_if_finite_gives_up_after_n_in_a_row():
    _, g = sequence(12, seed=4)
    bad_g = poisoned(g, [5, 6, 7], jnp.inf)
    updates, state = run_sequence(optim.apply_if_finite(optim.sgd(0.1), 3), bad_g)
    assert bool(state.gave_up)
    # Every later step is skipped too: the params stay at their last finite values.
    np.testing.assert_array_equal(flat(updates)[5:], 0.0)
    assert np.all(flat(updates)[:5] != 0.0)
    with pytest.raises(FloatingPointError, match=r"gave up: 3 non-finite updates in a row .*3 non-finite of 12 steps"):
        optim.raise_if_gave_up(state)
    # Two in a row is not enough.
    _, state = run_sequence(optim.apply_if_finite(optim.sgd(0.1), 3), poisoned(g, [5, 6], jnp.inf))
    assert not bool(state.gave_up)


def test_apply_if_finite_checked_raises_through_checkify():
    tx = optim.apply_if_finite(optim.sgd(0.1), 2, checked=True)
    params = {"w": jnp.ones(3)}

    @jax.jit
    def step(grads, state):
        updates, state = tx.update(grads, state, params)
        return updates, state

    checked_step = checkify.checkify(step)
    state = tx.init(params)
    for grads in ({"w": jnp.ones(3)}, {"w": jnp.full(3, jnp.nan)}, {"w": jnp.full(3, jnp.nan)}):
        error, (updates, state) = checked_step(grads, state)
        error.throw()  # not yet: the check reads the state before this step
    assert bool(state.gave_up)
    error, _ = checked_step({"w": jnp.ones(3)}, state)
    with pytest.raises(checkify.JaxRuntimeError, match="apply_if_finite gave up: 2 non-finite updates in a row .*2 non-finite of 3 steps"):
        error.throw()
    # Without checkify the checked update cannot be staged; the unchecked one can.
    with pytest.raises(ValueError, match="checkify"):
        step({"w": jnp.ones(3)}, state)


def test_apply_if_finite_catches_non_finite_outputs_of_finite_gradients():
    tx = optim.apply_if_finite(optim.chain(optim.scale(1e30), optim.scale(1e30)), 5)
    params = {"w": jnp.ones(2)}
    updates, state = jax.jit(tx.update)({"w": jnp.ones(2)}, tx.init(params), params)
    np.testing.assert_array_equal(updates["w"], 0.0)
    assert int(state.notfinite_count) == 1


# ----------------------------------------------------------------- MultiSteps


def regression_problem(n=24, d=5, seed=5):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    y = (x @ rng.standard_normal(d) + 0.1 * rng.standard_normal(n)).astype(np.float32)
    return jnp.asarray(x), jnp.asarray(y)


def regression_loss(params, x, y):
    prediction = x @ params["w"] + params["b"][0]
    return jnp.mean(jnp.square(prediction - y))


@pytest.mark.parametrize("k", [1, 3, 4])
def test_multi_steps_equals_one_batch_k_times_larger(k):
    x, y = regression_problem()
    params = {"w": jnp.zeros(5), "b": [jnp.zeros(1)]}
    micro = len(x) // k
    accumulated = optim.MultiSteps(optim.adam(0.05), k)
    big = optim.adam(0.05)

    @jax.jit
    def run(params):
        def outer(carry, _):
            p_small, s_small, p_big, s_big = carry
            for i in range(k):  # the micro-batches, one call each
                xs, ys = x[i * micro : (i + 1) * micro], y[i * micro : (i + 1) * micro]
                u, s_small = accumulated.update(jax.grad(regression_loss)(p_small, xs, ys), s_small, p_small)
                p_small = optim.apply_updates(p_small, u)
            u, s_big = big.update(jax.grad(regression_loss)(p_big, x, y), s_big, p_big)
            p_big = optim.apply_updates(p_big, u)
            return (p_small, s_small, p_big, s_big), (p_small, p_big)

        start = (params, accumulated.init(params), params, big.init(params))
        return jax.lax.scan(outer, start, None, length=20)[1]

    small, large = run(params)
    chex.assert_trees_all_close(small, large, rtol=1e-4, atol=1e-6)
    assert float(regression_loss(jax.tree.map(lambda a: a[-1], small), x, y)) < float(
        regression_loss(params, x, y)
    )


def test_multi_steps_schedule_mean_and_has_updated():
    # k = 1 for the first two optimizer steps, then 3.
    tx = optim.MultiSteps(optim.sgd(1.0), lambda step: jnp.where(step < 2, 1, 3))
    grads = [{"g": jnp.asarray([float(i)])} for i in range(1, 9)]
    state = tx.init({"g": jnp.zeros(1)})
    update = jax.jit(tx.update)
    outputs, flags = [], []
    for g in grads:
        u, state = update(g, state)
        outputs.append(float(u["g"][0]))
        flags.append(bool(optim.MultiSteps.has_updated(state)))
    assert outputs == [-1.0, -2.0, 0.0, 0.0, -4.0, 0.0, 0.0, -7.0]
    assert flags == [True, True, False, False, True, False, False, True]
    assert int(state.gradient_step) == 4
    summed = optim.MultiSteps(optim.sgd(1.0), 2, use_grad_mean=False)
    s = summed.init({"g": jnp.zeros(1)})
    _, s = summed.update(grads[0], s)
    u, s = summed.update(grads[1], s)
    assert float(u["g"][0]) == -3.0
    assert isinstance(summed.gradient_transformation(), optim.GradientTransformation)
    with pytest.raises(ValueError, match="every_k_schedule must be a positive integer"):
        optim.MultiSteps(optim.sgd(), 0)


def test_multi_steps_accumulates_bfloat16_in_float32():
    tx = optim.MultiSteps(optim.sgd(1.0), 4, accumulator_dtype=jnp.float32)
    params = {"w": jnp.zeros(2, jnp.bfloat16)}
    state = tx.init(params)
    assert state.acc_grads["w"].dtype == jnp.float32
    for _ in range(4):
        u, state = tx.update({"w": jnp.full(2, 1.0 + 2**-9, jnp.bfloat16)}, state, params)
    assert u["w"].dtype == jnp.bfloat16


# ----------------------------------------------------------------- lookahead, ema_params


def quadratic():
    rng = np.random.default_rng(6)
    q = rng.standard_normal((5, 5))
    return q @ q.T / 5 + 0.3 * np.eye(5), rng.standard_normal(5)


def quadratic_loss(params):
    a, b = quadratic()
    x = jnp.concatenate([params["u"], params["v"][0]])
    return 0.5 * x @ jnp.asarray(a, jnp.float32) @ x - jnp.asarray(b, jnp.float32) @ x


def to_tree(x):
    return {"u": jnp.asarray(x[:3], jnp.float32), "v": [jnp.asarray(x[3:], jnp.float32)]}


def trajectory(tx, x0, steps, read=None):
    @jax.jit
    def run(params):
        def step(carry, _):
            params, state = carry
            updates, state = tx.update(jax.grad(quadratic_loss)(params), state, params)
            params = optim.apply_updates(params, updates)
            return (params, state), (params, read(state) if read else params)

        return jax.lax.scan(step, (params, tx.init(params)), None, length=steps)[1]

    params, seen = run(to_tree(x0))
    return flat(params), flat(seen)


X0 = np.array([1.0, -2.0, 0.5, 3.0, -1.0])


@pytest.mark.parametrize("sync_period, alpha", [(5, 0.5), (3, 0.8)])
def test_lookahead_matches_the_paper(sync_period, alpha):
    a, b = quadratic()
    fast, slow = trajectory(
        optim.lookahead(optim.sgd(0.2), sync_period, alpha), X0, 30, read=lambda s: optim.eval_params(s)
    )
    fast_ref, slow_ref = ref.lookahead_sgd(lambda x: a @ x - b, X0, 30, 0.2, sync_period, alpha)
    np.testing.assert_allclose(fast, fast_ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(slow, slow_ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(fast[sync_period - 1 :: sync_period], slow[sync_period - 1 :: sync_period])


@pytest.mark.parametrize(
    "decay, debias",
    [(0.9, True), (0.8, False), (None, True), (lambda step: 0.5 + 0.4 * jnp.minimum(step / 10.0, 1.0), True)],
    ids=["debiased", "from-initial-params", "uniform", "scheduled"],
)
def test_ema_params_matches_numpy(decay, debias):
    tx = optim.chain(optim.sgd(0.1, momentum=0.5), optim.ema_params(decay, debias=debias))
    params, averaged = trajectory(tx, X0, 30, read=optim.eval_params)
    reference_decay = (lambda t: 0.5 + 0.4 * min(t / 10.0, 1.0)) if callable(decay) else decay
    if callable(decay) and debias:
        # A scheduled decay: the weights of p_1..p_t are (1 - d_i) prod_{j > i} d_j.
        expected = np.zeros_like(params)
        for t in range(len(params)):
            d = [reference_decay(i) for i in range(t + 1)]
            w = np.array([(1 - d[i]) * np.prod(d[i + 1 :]) for i in range(t + 1)])
            expected[t] = w @ params[: t + 1] / w.sum()
    else:
        expected = ref.ema_params(params, X0, reference_decay, debias)
    np.testing.assert_allclose(averaged, expected, rtol=1e-5, atol=1e-6)


def test_eval_params_errors():
    params = {"w": jnp.zeros(2)}
    with pytest.raises(ValueError, match="found 0"):
        optim.eval_params(optim.sgd().init(params))
    two = optim.chain(optim.ema_params(0.9), optim.ema_params(0.5)).init(params)
    with pytest.raises(ValueError, match="found 2"):
        optim.eval_params(two)
    with pytest.raises(ValueError, match="needs the params"):
        optim.ema_params().update(params, optim.ema_params().init(params))


# ----------------------------------------------------------------- momentum schedules


def rising_momentum(step):
    """The lecture's momentum: 0.5 at first, raised smoothly to 0.9 over 10 steps."""
    return 0.5 + 0.4 * jnp.minimum(jnp.asarray(step, jnp.float32) / 10.0, 1.0)


def test_momentum_schedule_through_trace_and_sgd():
    g64, g = sequence(STEPS, seed=7)
    numpy_schedule = lambda t: 0.5 + 0.4 * min(t / 10.0, 1.0)
    for tx in (optim.sgd(0.1, momentum=rising_momentum), optim.chain(optim.trace(rising_momentum), optim.scale(-0.1))):
        updates, _ = run_sequence(tx, g)
        np.testing.assert_allclose(flat(updates), ref.sgd(flat(g64), 0.1, momentum=numpy_schedule), rtol=1e-5, atol=1e-7)
    # And through inject_hyperparams, which passes a momentum schedule through.
    tx = optim.inject_hyperparams(optim.sgd)(learning_rate=0.1, momentum=rising_momentum)
    updates, _ = run_sequence(tx, g)
    np.testing.assert_allclose(flat(updates), ref.sgd(flat(g64), 0.1, momentum=numpy_schedule), rtol=1e-5, atol=1e-7)


# ----------------------------------------------------------------- contract of the wrappers


def test_wrappers_jit_without_retrace_and_keep_dtypes():
    loss = lambda p: sum(jnp.sum(jnp.square(leaf.astype(jnp.float32) - 1.0)) for leaf in jax.tree.leaves(p))
    wrappers = {
        "partition": lambda: optim.partition(three_groups(), LABELS),
        "masked": lambda: optim.chain(
            optim.masked(optim.scale_by_adam(), {"w": True, "b": False, "deep": [True, (False, True)]}),
            optim.scale(-0.1),
        ),
        "apply_if_finite": lambda: optim.apply_if_finite(optim.adam(0.1), 3),
        "multi_steps": lambda: optim.MultiSteps(optim.adam(0.1), 2),
        "lookahead": lambda: optim.lookahead(optim.adam(0.1)),
        "ema_params": lambda: optim.chain(optim.adam(0.1), optim.ema_params(0.9)),
    }
    for dtype in (jnp.bfloat16, jnp.float64):
        with jax.enable_x64(dtype == jnp.float64):
            params = example_tree(lambda shape, dtype=dtype: jnp.full(shape, 0.5, dtype))
            for name, make in wrappers.items():
                chex.clear_trace_counter()
                tx = make()

                @jax.jit
                @chex.assert_max_traces(n=1)
                def step(params, state, tx=tx):
                    updates, state = tx.update(jax.grad(loss)(params), state, params)
                    return optim.apply_updates(params, updates), state, updates

                state = tx.init(params)
                dtypes = jax.tree.map(jnp.result_type, state)
                p = params
                for _ in range(4):
                    p, state, updates = step(p, state)
                    chex.assert_trees_all_equal_dtypes(updates, params)
                    assert jax.tree.map(jnp.result_type, state) == dtypes, name
                assert loss(p) < loss(params), name


def test_wrappers_work_injected_with_their_integer_arguments_static():
    # inject_hyperparams keeps integer arguments of integer parameters static (they decide
    # loop counts and shapes) and injects the floats.
    _, g = sequence(12, seed=10)
    p = jax.tree.map(lambda x: x[0], g)
    cases = {
        "lookahead": (optim.lookahead, dict(fast=optim.sgd(0.1), sync_period=3, slow_step_size=0.5)),
        "multi_steps": (optim.MultiSteps, dict(opt=optim.adam(0.1), every_k_schedule=3)),
        "apply_if_finite": (optim.apply_if_finite, dict(inner=optim.adam(0.1), max_consecutive_errors=2)),
    }
    params_seq = jax.tree.map(lambda x: jnp.broadcast_to(x, (12, *x.shape)), p)
    for name, (factory, kwargs) in cases.items():
        plain, _ = run_sequence(factory(**kwargs), g, params_seq)
        injected, state = run_sequence(optim.inject_hyperparams(factory)(**kwargs), g, params_seq)
        np.testing.assert_allclose(flat(injected), flat(plain), rtol=1e-6, err_msg=name)
        assert not any(
            jnp.issubdtype(v.dtype, jnp.integer) for v in state.hyperparams.values()
        ), name
    tx = optim.inject_hyperparams(optim.reduce_on_plateau)(patience=2, cooldown=1, accumulation_size=2)
    state = tx.init(p)
    for value in (3.0, 3.0, 3.0, 3.0, 3.0, 3.0):
        _, state = jax.jit(tx.update)(p, state, p, value=value)
    assert float(optim.get_field(state, "scale")) == pytest.approx(0.1)
    assert "patience" not in state.hyperparams
    assert float(state.hyperparams["factor"]) == pytest.approx(0.1)
