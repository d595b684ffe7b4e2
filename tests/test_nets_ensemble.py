"""Snapshot ensembles: cosine cycles with restarts, one snapshot per cycle, averaged
probabilities."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nets

MODEL = nets.MLP([64, 32, 10])


@pytest.fixture(scope="module")
def digits():
    return nets.load_digits(seed=0)


@pytest.fixture(scope="module")
def ensemble(digits):
    return nets.snapshot_ensemble(MODEL, MODEL.init(jax.random.key(0)),
                                  nets.softmax_cross_entropy, digits.train, cycles=3,
                                  epochs_per_cycle=2, batch_size=64, learning_rate=0.2,
                                  optimizer_kwargs={"momentum": 0.9})


@pytest.mark.slow
def test_one_snapshot_per_cycle_and_the_learning_rate_restarts(ensemble, digits):
    assert len(ensemble.snapshots) == 3 and len(ensemble.histories) == 3
    steps = 2 * (len(digits.train) // 64)
    for history in ensemble.histories:
        lrs = history.step_learning_rate
        assert lrs.shape == (steps,)
        assert lrs[0] == pytest.approx(0.2)  # each cycle restarts at the top
        assert np.all(np.diff(lrs) < 0)  # and anneals
        t = np.arange(steps)
        np.testing.assert_allclose(lrs, 0.1 * (1 + np.cos(np.pi * t / steps)), rtol=1e-5,
                                   atol=1e-7)
    # the snapshots are distinct models, each a good one
    first, last = ensemble.snapshots[0], ensemble.snapshots[-1]
    assert not np.allclose(first[0]["w"], last[0]["w"])
    for snapshot in ensemble.snapshots:
        assert nets.evaluate(MODEL, snapshot, nets.softmax_cross_entropy,
                             digits.test)["accuracy"] > 0.9


@pytest.mark.slow
def test_ensemble_predict_averages_probabilities(ensemble, digits):
    x = digits.test.x[:20]
    expected = np.mean([np.asarray(jax.nn.softmax(MODEL.apply(p, x), axis=-1))
                        for p in ensemble.snapshots], axis=0)
    got = nets.ensemble_predict(MODEL, ensemble.snapshots, x)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(np.sum(got, axis=1), 1.0, rtol=1e-5)
    accuracy = nets.ensemble_accuracy(MODEL, ensemble.snapshots, digits.test)
    singles = [nets.evaluate(MODEL, p, nets.softmax_cross_entropy, digits.test)["accuracy"]
               for p in ensemble.snapshots]
    assert accuracy >= min(singles)
    assert accuracy == pytest.approx(float(np.mean(
        np.argmax(nets.ensemble_predict(MODEL, ensemble.snapshots, digits.test.x), 1)
        == np.asarray(digits.test.y))))


def test_binary_members_average_sigmoids():
    model = lambda params, x: x * params
    members = [jnp.array(1.0), jnp.array(-2.0)]
    x = jnp.array([[0.5], [-1.0]])
    expected = (jax.nn.sigmoid(x * 1.0) + jax.nn.sigmoid(x * -2.0)) / 2
    np.testing.assert_allclose(nets.ensemble_predict(model, members, x), expected, rtol=1e-6)
    split = nets.Split(x, jnp.array([0, 1]))
    assert nets.ensemble_accuracy(model, members, split) == 1.0  # 0.44 -> 0, 0.63 -> 1


def test_errors(digits):
    with pytest.raises(ValueError, match="at least one member"):
        nets.ensemble_predict(MODEL, [], digits.test.x)
    with pytest.raises(ValueError, match="cycles must be"):
        nets.snapshot_ensemble(MODEL, MODEL.init(jax.random.key(0)), nets.softmax_cross_entropy,
                               digits.train, cycles=0, epochs_per_cycle=1, batch_size=32)
