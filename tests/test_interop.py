"""Compatibility with optax both ways: an optax transform inside `optim.chain`, an `optim`
transform inside `optax.chain`, each giving the numbers of the pure versions; and the aliases
that follow optax's conventions giving optax's numbers (60 jitted steps, float32, rtol 1e-5 and
atol 1e-5 of the largest update).

Why not closer: optax computes `1 - b2` in Python float64 before rounding to float32, we round
`b2` first and use the same float32 value in the moment and in its debiasing (so our first
Adam step is exactly sign(g)); the two differ by up to 7e-6 relative in `v^`, which shows as
~1e-7 absolute where AdamW's decay nearly cancels Adam's step."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from optim_helpers import flat, run_sequences, sequence

import optim

# name: (ours or mixed, the pure reference)
PAIRS = {
    # optax inside optim.chain
    "optax_adam_in_optim_chain": (
        lambda: optim.chain(optax.scale_by_adam(), optim.scale_by_learning_rate(0.01)),
        lambda: optim.adam(0.01),
    ),
    "optax_clip_in_optim_chain": (
        lambda: optim.chain(optax.clip_by_global_norm(2.0), optim.sgd(0.1, 0.9)),
        lambda: optim.chain(optim.clip_by_global_norm(2.0), optim.sgd(0.1, 0.9)),
    ),
    # optim inside optax.chain
    "optim_adam_in_optax_chain": (
        lambda: optax.chain(optim.scale_by_adam(), optax.scale(-0.01)),
        lambda: optax.adam(0.01),
    ),
    "optim_trace_in_optax_chain": (
        lambda: optax.chain(optax.clip(0.5), optim.trace(0.9, nesterov=True), optax.scale(-0.1)),
        lambda: optax.chain(optax.clip(0.5), optax.sgd(0.1, 0.9, nesterov=True)),
    ),
    "optim_alias_in_optax_chain": (
        lambda: optax.chain(optax.clip_by_global_norm(1.0), optim.rmsprop(0.01, centered=True)),
        lambda: optax.chain(optax.clip_by_global_norm(1.0), optax.rmsprop(0.01, centered=True)),
    ),
    # the same numbers as optax where the conventions agree
    "sgd": (lambda: optim.sgd(0.1), lambda: optax.sgd(0.1)),
    "sgd_momentum": (lambda: optim.sgd(0.1, 0.9), lambda: optax.sgd(0.1, 0.9)),
    "sgd_nesterov": (lambda: optim.sgd(0.1, 0.9, True), lambda: optax.sgd(0.1, 0.9, True)),
    "adagrad": (lambda: optim.adagrad(0.1), lambda: optax.adagrad(0.1)),
    "rmsprop": (lambda: optim.rmsprop(0.01), lambda: optax.rmsprop(0.01)),
    "rmsprop_centered_momentum": (
        lambda: optim.rmsprop(0.01, centered=True, momentum=0.9, nesterov=True),
        lambda: optax.rmsprop(0.01, centered=True, momentum=0.9, nesterov=True),
    ),
    "adadelta": (lambda: optim.adadelta(1.0), lambda: optax.adadelta(1.0)),
    "adam": (lambda: optim.adam(0.01), lambda: optax.adam(0.01)),
    "adam_nesterov": (lambda: optim.adam(0.01, nesterov=True), lambda: optax.adam(0.01, nesterov=True)),
    "adam_eps_root": (lambda: optim.adam(0.01, eps_root=1e-4), lambda: optax.adam(0.01, eps_root=1e-4)),
    "adamw": (lambda: optim.adamw(0.01, weight_decay=0.1), lambda: optax.adamw(0.01, weight_decay=0.1)),
    "clip_by_global_norm": (lambda: optim.clip_by_global_norm(3.0), lambda: optax.clip_by_global_norm(3.0)),
    "ema": (lambda: optim.ema(0.9), lambda: optax.ema(0.9)),
}


@pytest.fixture(scope="module")
def runs():
    """Every pair, ours and pure, over 60 steps in one compiled program, once for the module."""
    _, grads = sequence(60, seed=31, zeros=0.05)
    _, params = sequence(60, seed=32)
    transforms = {}
    for name, (ours, pure) in PAIRS.items():
        transforms[name, "ours"] = ours()
        transforms[name, "pure"] = pure()
    return run_sequences(transforms, grads, params)


@pytest.mark.parametrize("name", PAIRS)
def test_same_numbers_as_the_pure_version(name, runs):
    ours, pure = flat(runs[name, "ours"]), flat(runs[name, "pure"])
    assert np.abs(pure).max() > 0
    np.testing.assert_allclose(ours, pure, rtol=1e-5, atol=1e-5 * np.abs(pure).max())


def test_rprop_differs_from_optax_by_optaxs_one_step_lag():
    """optax 0.2.8's scale_by_rprop returns the previous step's update (0 at the first step);
    ours uses step t's own gradient (Igel & Huesken). With a constant gradient the two agree up
    to that shift."""
    grads = jnp.ones((5, 2))
    out = run_sequences(
        {"ours": optim.scale_by_rprop(0.1), "optax": optax.scale_by_rprop(0.1)}, grads
    )
    ours, theirs = np.asarray(out["ours"]), np.asarray(out["optax"])
    np.testing.assert_allclose(ours[:, 0], 0.1 * 1.2 ** np.arange(5), rtol=1e-6)
    np.testing.assert_array_equal(theirs[0], 0.0)
    np.testing.assert_allclose(theirs[1:], ours[:-1], rtol=1e-6)


def test_optax_state_inside_optim_chain_is_readable_by_name():
    params = {"w": jnp.ones(3)}
    state = optim.chain(optax.scale_by_adam(), optim.scale_by_learning_rate(0.1)).init(params)
    assert optim.get_field(state, "mu")["w"].shape == (3,)
    state = optim.set_field(state, count=5)
    assert int(optim.get_field(state, "count")) == 5


def test_optim_transform_in_optax_chain_under_jit_with_apply_updates():
    params = {"w": jnp.asarray([1.0, -2.0]), "b": jnp.asarray(0.5)}
    loss = lambda p: jnp.sum(p["w"] ** 2) + p["b"] ** 2
    tx = optax.chain(optim.scale_by_adam(), optax.scale(-0.1))
    reference = optax.adam(0.1)

    @jax.jit
    def step(p, s, q, r):
        u, s = tx.update(jax.grad(loss)(p), s, p)
        v, r = reference.update(jax.grad(loss)(q), r, q)
        return optim.apply_updates(p, u), s, optax.apply_updates(q, v), r

    p, s, q, r = params, tx.init(params), params, reference.init(params)
    for _ in range(20):
        p, s, q, r = step(p, s, q, r)
    # Near the minimum Adam divides tiny gradients by their own RMS, which magnifies the 7e-6
    # difference in debiasing described above.
    np.testing.assert_allclose(
        flat(jax.tree.map(lambda x: x[None], p)), flat(jax.tree.map(lambda x: x[None], q)), rtol=2e-4
    )
    assert float(loss(p)) < 0.2 * float(loss(params))
