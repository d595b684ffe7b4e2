"""Wrappers (optim/wrappers/finite.py, accumulate.py, and inject_hyperparams around them):
apply_if_finite and MultiSteps, each against a NumPy reference or an equivalence over many jitted
steps; the wrappers injected with their integer arguments static. Their contract (jit, no
retrace, dtypes, descent) is in the contract suite (contract_registry.py)."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference as ref
from jax.experimental import checkify
from optim_helpers import flat, run_sequence, sequence

import optim

STEPS = 25


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
    """Three non-finite steps in a row set `gave_up` (reported), and the wrapper keeps skipping
    the non-finite steps and applying the finite ones (it used to skip every later step)."""
    g64, g = sequence(12, seed=4)
    bad_g = poisoned(g, [5, 6, 7], jnp.inf)
    updates, state = run_sequence(optim.apply_if_finite(optim.sgd(0.1), 3), bad_g)
    assert bool(state.gave_up)
    np.testing.assert_array_equal(flat(updates)[5:8], 0.0)
    good = [t for t in range(12) if t not in (5, 6, 7)]
    np.testing.assert_allclose(flat(updates)[good], -0.1 * flat(g64)[good], rtol=1e-6)
    with pytest.raises(FloatingPointError, match=r"gave up: max_consecutive_errors non-finite "
                                                 r"updates in a row were reached; 3 non-finite "
                                                 r"of 12 steps, all skipped"):
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


@pytest.mark.parametrize("k", [1, *(pytest.param(k, marks=pytest.mark.slow) for k in (3, 4))])
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


@pytest.mark.slow
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
