"""inject_hyperparams: the same trajectory as the plain optimizer, bit for bit; hyperparameters
read, set, scheduled and vmapped as state; their own dtype whatever the params' dtype."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from optim_helpers import params_like

import optim


def loss(params):
    # A smooth loss with different curvatures per leaf, so every optimizer moves every entry.
    leaves = jax.tree.leaves(params)
    return sum((i + 1.0) * jnp.sum((x - 0.3) ** 2) + 0.1 * jnp.sum(x**4) for i, x in enumerate(leaves))


def trajectory(tx, params, steps):
    """The params after each of `steps` jitted steps (stacked), and the final state."""

    def step(carry, _):
        params, state = carry
        updates, state = tx.update(jax.grad(loss)(params), state, params)
        params = optim.apply_updates(params, updates)
        return (params, state), params

    (_, state), path = jax.lax.scan(step, (params, tx.init(params)), None, length=steps)
    return path, state


# name: (factory, keyword arguments)
ALIASES = {
    "sgd": (optim.sgd, {"learning_rate": 0.05}),
    "sgd_momentum": (optim.sgd, {"learning_rate": 0.05, "momentum": 0.9}),
    "sgd_nesterov": (optim.sgd, {"learning_rate": 0.05, "momentum": 0.9, "nesterov": True}),
    "adagrad": (optim.adagrad, {"learning_rate": 0.1}),
    "rmsprop": (optim.rmsprop, {"learning_rate": 0.01}),
    "rmsprop_centered_momentum": (
        optim.rmsprop,
        {"learning_rate": 0.01, "centered": True, "momentum": 0.5, "initial_scale": 0.1},
    ),
    "adadelta": (optim.adadelta, {}),
    "adadelta_weight_decay": (optim.adadelta, {"weight_decay": 0.01}),
    "adam": (optim.adam, {"learning_rate": 0.01}),
    "adam_nesterov": (optim.adam, {"learning_rate": 0.01, "eps_root": 1e-8, "nesterov": True}),
    "adamw": (optim.adamw, {"learning_rate": 0.01, "weight_decay": 0.1}),
    "rprop": (optim.rprop, {}),
    "adaptive_gains": (optim.adaptive_gains, {"learning_rate": 0.01, "momentum": 0.5}),
}


@pytest.fixture(scope="module")
def paths():
    """Every alias, plain and injected, in one compiled program, once for the module."""

    @jax.jit
    def run(params):
        out = {}
        for name, (factory, kwargs) in ALIASES.items():
            plain = trajectory(factory(**kwargs), params, 50)[0]
            injected, state = trajectory(optim.inject_hyperparams(factory)(**kwargs), params, 50)
            out[name] = plain, injected, state
        return out

    return run(params_like())


def test_every_alias_is_covered():
    names = {"sgd", "adagrad", "rmsprop", "adadelta", "adam", "adamw", "rprop", "adaptive_gains"}
    assert names <= {factory.__name__ for factory, _ in ALIASES.values()}


@pytest.mark.parametrize("name", ALIASES)
def test_trajectory_equals_the_plain_optimizers_bit_for_bit(name, paths):
    plain, injected, state = paths[name]
    start = params_like()
    moved = [not np.array_equal(p[-1], s) for p, s in zip(jax.tree.leaves(plain), jax.tree.leaves(start), strict=True)]
    assert all(moved), "every leaf must move, or the comparison proves nothing"
    for p, q in zip(jax.tree.leaves(plain), jax.tree.leaves(injected), strict=True):
        np.testing.assert_array_equal(p, q)
    # Every numeric hyperparameter, given or defaulted, is state.
    factory, kwargs = ALIASES[name]
    numeric = {k for k, v in kwargs.items() if isinstance(v, float)}
    assert numeric <= set(state.hyperparams)
    assert int(state.count) == 50


def test_hyperparams_read_and_set_without_retrace():
    params = params_like()
    tx = optim.inject_hyperparams(optim.adam)(learning_rate=0.1)
    state = tx.init(params)
    assert float(optim.get_field(state, "learning_rate")) == pytest.approx(0.1)
    assert float(optim.get_field(state, "b2")) == pytest.approx(0.999)

    @jax.jit
    @chex.assert_max_traces(n=1)
    def step(grads, state):
        return tx.update(grads, state, params)

    grads = jax.grad(loss)(params)
    _, state = step(grads, state)
    before, _ = step(grads, state)
    halved = optim.set_field(state, learning_rate=0.05)
    after, halved = step(grads, halved)
    # Adam's step is proportional to the learning rate: the same state, half the rate.
    for a, b in zip(jax.tree.leaves(after), jax.tree.leaves(before), strict=True):
        np.testing.assert_allclose(a, 0.5 * b, rtol=1e-6)
    assert float(optim.get_field(halved, "learning_rate")) == pytest.approx(0.05)
    frozen = optim.set_field(halved, learning_rate=0.0, b1=0.5)
    zero, frozen = step(grads, frozen)
    assert all(not np.any(np.asarray(u)) for u in jax.tree.leaves(zero))
    assert float(optim.get_field(frozen, "b1")) == 0.5


def test_a_schedule_is_evaluated_at_each_step_and_stored():
    params = params_like()
    schedule = lambda t: 0.1 * 0.5**t
    injected = optim.inject_hyperparams(optim.sgd)(learning_rate=schedule, momentum=0.9)
    plain = optim.sgd(schedule, momentum=0.9)
    run = jax.jit(lambda p: (trajectory(injected, p, 20), trajectory(plain, p, 20)[0]))
    (path, state), plain_path = run(params)
    for p, q in zip(jax.tree.leaves(path), jax.tree.leaves(plain_path), strict=True):
        np.testing.assert_array_equal(p, q)
    # The value stored is the one used at the last step (count 19).
    assert float(optim.get_field(state, "learning_rate")) == pytest.approx(0.1 * 0.5**19)
    assert float(optim.get_field(injected.init(params), "learning_rate")) == pytest.approx(0.1)


def test_callables_without_a_numeric_default_pass_through():
    params = params_like()
    momentum = lambda t: jnp.minimum(0.5 + 0.1 * t, 0.9)
    injected = optim.inject_hyperparams(optim.sgd)(0.05, momentum=momentum)
    state = injected.init(params)
    assert "momentum" not in state.hyperparams and "learning_rate" in state.hyperparams
    run = jax.jit(lambda p: (trajectory(injected, p, 20)[0], trajectory(optim.sgd(0.05, momentum), p, 20)[0]))
    path, plain = run(params)
    for p, q in zip(jax.tree.leaves(path), jax.tree.leaves(plain), strict=True):
        np.testing.assert_array_equal(p, q)


def test_static_args_are_not_injected():
    state = optim.inject_hyperparams(optim.sgd, static_args="learning_rate")(0.1).init(params_like())
    assert "learning_rate" not in state.hyperparams
    state = optim.inject_hyperparams(optim.adam, static_args=("b1", "b2"))(0.1).init(params_like())
    assert set(state.hyperparams) == {"learning_rate", "eps", "eps_root"}


@pytest.mark.slow
def test_vmapped_states_with_different_learning_rates_equal_separate_runs():
    params = params_like()
    rates = jnp.asarray([0.1, 0.03, 0.01], jnp.float32)
    tx = optim.inject_hyperparams(optim.adam)(learning_rate=0.1)
    states = jax.vmap(lambda lr: optim.set_field(tx.init(params), learning_rate=lr))(rates)
    np.testing.assert_array_equal(optim.get_field(states, "learning_rate"), rates)

    def run(state):
        def step(carry, _):
            params, state = carry
            updates, state = tx.update(jax.grad(loss)(params), state, params)
            return (optim.apply_updates(params, updates), state), None

        return jax.lax.scan(step, (params, state), None, length=30)[0][0]

    swept = jax.jit(jax.vmap(run))(states)
    for i, rate in enumerate([0.1, 0.03, 0.01]):
        alone = jax.jit(lambda p, rate=rate: trajectory(optim.adam(rate), p, 30)[0])(params)
        for s, a in zip(jax.tree.leaves(swept), jax.tree.leaves(alone), strict=True):
            np.testing.assert_allclose(s[i], a[-1], rtol=1e-6, atol=1e-7)
    # The three runs really differ.
    assert not np.allclose(swept["b"][0], swept["b"][2])


def test_bfloat16_params_keep_float32_hyperparameters():
    params = params_like(jnp.bfloat16)
    tx = optim.inject_hyperparams(optim.adamw)(learning_rate=1e-2)
    state = tx.init(params)
    step = jax.jit(lambda g, s: tx.update(g, s, params))
    grads = jax.tree.map(lambda p: jnp.ones_like(p), params)
    for _ in range(3):
        updates, state = step(grads, state)
    assert {v.dtype for v in state.hyperparams.values()} == {jnp.dtype(jnp.float32)}
    assert float(state.hyperparams["learning_rate"]) == pytest.approx(1e-2)  # not 0.010009765625
    assert {x.dtype for x in jax.tree.leaves(optim.get_field(state, "mu"))} == {jnp.dtype(jnp.bfloat16)}
    assert {x.dtype for x in jax.tree.leaves(updates)} == {jnp.dtype(jnp.bfloat16)}


def test_float64_hyperparameters_under_x64(x64):
    state = optim.inject_hyperparams(optim.adam)(1e-3).init(params_like(jnp.float32))
    assert {v.dtype for v in state.hyperparams.values()} == {jnp.dtype(jnp.float64)}


@pytest.mark.parametrize(
    "factory, kwargs, message",
    [
        (optim.adam, {"b1": 1.5}, r"b1 must be in \[0, 1\), got 1.5"),
        (optim.sgd, {"learning_rate": -0.1}, "learning_rate must be in"),
        (optim.rmsprop, {"decay": float("nan")}, "decay must be in"),
        (optim.adadelta, {"rho": 1.0}, "rho must be in"),
        (optim.rprop, {"eta_plus": 0.9}, "eta_plus must be in"),
        (optim.adaptive_gains, {"decrease": 1.5}, "decrease must be in"),
    ],
)
def test_bad_hyperparameters_raise_when_built(factory, kwargs, message):
    build = optim.inject_hyperparams(factory)
    with pytest.raises(ValueError, match=message):
        build(**kwargs)


def test_extras_reach_the_inner_optimizer():
    seen = {}

    def factory(learning_rate: float = 0.1):
        def update(updates, state, params=None, *, value=None):
            seen["value"] = value
            return optim.tree_scale(-learning_rate, updates), state

        return optim.GradientTransformation(lambda p: optim.EmptyState(), update)

    tx = optim.inject_hyperparams(factory)()
    params = params_like()
    tx.update(params, tx.init(params), params, value=3.0, value_fn=lambda p: 0.0)
    assert seen == {"value": 3.0}


@pytest.mark.slow
def test_bfloat16_trajectory_equals_the_plain_optimizers_bit_for_bit():
    # Injected Python numbers stay weakly typed float32: a bfloat16 gradient times an injected
    # rate is computed as the plain optimizer computes it.
    params = params_like(jnp.bfloat16)
    names = ["sgd_momentum", "adam", "rprop", "adaptive_gains"]

    @jax.jit
    def run(params):
        out = {}
        for name in names:
            factory, kwargs = ALIASES[name]
            out[name] = (
                trajectory(factory(**kwargs), params, 30)[0],
                trajectory(optim.inject_hyperparams(factory)(**kwargs), params, 30)[0],
            )
        return out

    for name, (plain, injected) in run(params).items():
        for p, q in zip(jax.tree.leaves(plain), jax.tree.leaves(injected), strict=True):
            assert p.dtype == jnp.bfloat16
            np.testing.assert_array_equal(np.asarray(p, np.float32), np.asarray(q, np.float32), err_msg=name)


def test_integer_hyperparameters_of_integer_parameters_stay_static():
    tx = optim.inject_hyperparams(optim.lbfgs)(learning_rate=1.0, memory_size=3)
    state = tx.init({"w": jnp.ones(4)})
    assert "memory_size" not in state.hyperparams
    assert state.hyperparams["learning_rate"].dtype == jnp.float32
    # An integer given for a float parameter is still injected, as a number.
    tx = optim.inject_hyperparams(optim.sgd)(learning_rate=1)
    assert "learning_rate" in tx.init({"w": jnp.ones(4)}).hyperparams
