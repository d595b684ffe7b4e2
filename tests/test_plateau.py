"""reduce_on_plateau (optim/plateau.py) against a NumPy transcription and optax, and in training."""

import jax
import jax.numpy as jnp
import numpy as np
import optax.contrib
import pytest
import reference as ref

import optim


def loss_sequence(steps=120, seed=0):
    """A loss that falls, then stalls with noise, then falls again and stalls."""
    rng = np.random.default_rng(seed)
    t = np.arange(steps, dtype=np.float64)
    base = np.where(t < 40, 5.0 - 0.1 * t, 1.0) - np.where(t > 80, 0.01 * (t - 80), 0.0)
    return base + 0.02 * rng.standard_normal(steps)


def run_scales(tx, values, grads):
    """The updates of `tx` for one gradient per value, all in one jitted scan."""

    @jax.jit
    def go(values):
        def step(state, value):
            updates, state = tx.update(grads, state, grads, value=value)
            return state, (updates, optim.get_field(state, "scale"))

        return jax.lax.scan(step, tx.init(grads), values)[1]

    return go(jnp.asarray(values, jnp.float32))


SETTINGS = [
    dict(),
    dict(patience=3),
    dict(factor=0.5, patience=2, cooldown=3, min_scale=0.05),
    dict(factor=0.5, patience=2, accumulation_size=4, rtol=0.0, atol=0.05),
    dict(patience=1, rtol=0.05, cooldown=1, min_scale=1e-4),
]


@pytest.mark.parametrize("kwargs", SETTINGS, ids=[str(k) for k in SETTINGS])
def test_matches_numpy_and_scales_the_updates(kwargs):
    values = loss_sequence()
    grads = {"w": jnp.ones((2, 3)), "b": [jnp.full((4,), -2.0)]}
    updates, scales = run_scales(optim.reduce_on_plateau(**kwargs), values, grads)
    expected = ref.reduce_on_plateau(np.asarray(values, np.float32), **kwargs)
    np.testing.assert_allclose(np.asarray(scales), expected, rtol=1e-6)
    assert len(set(expected.tolist())) > 1  # the setting does cut the scale
    np.testing.assert_allclose(np.asarray(updates["w"]), expected[:, None, None] * np.ones((1, 2, 3)), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(updates["b"][0]), -2.0 * expected[:, None] * np.ones((1, 4)), rtol=1e-6)


@pytest.mark.parametrize("kwargs", SETTINGS[1:], ids=[str(k) for k in SETTINGS[1:]])
def test_matches_optax(kwargs):
    values = loss_sequence(seed=1)
    grads = {"w": jnp.ones(3)}
    _, ours = run_scales(optim.reduce_on_plateau(**kwargs), values, grads)
    theirs = optax.contrib.reduce_on_plateau(**kwargs)

    @jax.jit
    def go(values):
        def step(state, value):
            _, state = theirs.update(grads, state, grads, value=value)
            return state, state.scale

        return jax.lax.scan(step, theirs.init(grads), values)[1]

    np.testing.assert_allclose(np.asarray(ours), np.asarray(go(jnp.asarray(values, jnp.float32))), rtol=1e-6)


def test_the_lectures_divide_by_ten_in_training():
    # Noisy SGD on a quadratic stalls at a noise floor; the plateau cuts the rate by 10 and the
    # loss drops to a lower floor, as the lectures' "final improvement step".
    target = jnp.asarray(np.linspace(-1, 1, 6), jnp.float32)
    loss = lambda p: jnp.sum(jnp.square(p["x"] - target))
    tx = optim.chain(optim.sgd(0.3), optim.reduce_on_plateau(patience=5, accumulation_size=10, min_scale=0.01))
    key = jax.random.key(0)

    @jax.jit
    def run(params):
        def step(carry, k):
            params, state = carry
            value, grads = jax.value_and_grad(loss)(params)
            grads = jax.tree.map(lambda g: g + jax.random.normal(k, g.shape), grads)
            updates, state = tx.update(grads, state, params, value=value)
            return (optim.apply_updates(params, updates), state), (value, optim.get_field(state, "scale"))

        return jax.lax.scan(step, (params, tx.init(params)), jax.random.split(key, 600))[1]

    values, scales = run({"x": jnp.zeros(6)})
    scales = np.asarray(scales)
    assert scales[0] == 1.0 and scales[-1] == pytest.approx(0.01)  # two cuts, then the floor
    first_cut = int(np.argmax(scales < 1.0))
    before = np.mean(np.asarray(values)[first_cut - 50 : first_cut])
    after = np.mean(np.asarray(values)[-50:])
    assert after < 0.3 * before


def test_needs_the_value_and_validates():
    tx = optim.reduce_on_plateau()
    params = {"w": jnp.ones(2)}
    with pytest.raises(TypeError, match="value=loss"):
        tx.update(params, tx.init(params), params)
    with pytest.raises(ValueError, match="scalar"):
        tx.update(params, tx.init(params), params, value=jnp.ones(2))
    for kwargs, message in [
        (dict(factor=1.0), r"factor must be in \(0, 1\)"),
        (dict(patience=0), "patience must be a positive integer"),
        (dict(cooldown=-1), r"cooldown must be an integer >= 0"),
        (dict(rtol=0.0, atol=0.0), "must not both be 0"),
        (dict(min_scale=2.0), "min_scale"),
        (dict(accumulation_size=0), "accumulation_size"),
    ]:
        with pytest.raises(ValueError, match=message):
            optim.reduce_on_plateau(**kwargs)


def test_state_is_float32_and_stable_for_bfloat16_and_float64(x64):
    for dtype in (jnp.bfloat16, jnp.float64):
        params = {"w": jnp.ones(2, dtype)}
        tx = optim.reduce_on_plateau(patience=1)
        state = tx.init(params)
        update = jax.jit(tx.update)
        for value in (1.0, 2.0, 3.0):
            updates, new_state = update(params, state, params, value=value)
            assert jax.tree.map(jnp.result_type, new_state) == jax.tree.map(jnp.result_type, state)
            assert updates["w"].dtype == dtype
            state = new_state
        assert float(state.scale) == pytest.approx(0.01)
