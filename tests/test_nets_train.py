"""fit: lowers the loss, equals a hand-written loop, compiles once, and each stopping rule
fires at the step a NumPy transcription of the same run says it should."""

import io

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nets
import optim

# Shared objects: fits with the same model, loss and optimizer reuse one compiled epoch.
SGD = optim.sgd(0.05)
TRUE_W, TRUE_B = np.array([1.0, -2.0, 0.5]), 0.3


def linear(params, x):
    return x @ params["w"] + params["b"]


def _regression(n=64, seed=0, dtype=jnp.float64):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    y = x @ TRUE_W + TRUE_B + 0.1 * rng.normal(size=n)
    return nets.Split(jnp.asarray(x, dtype), jnp.asarray(y, dtype))


def _zeros(dtype=jnp.float64):
    return {"w": jnp.zeros(3, dtype), "b": jnp.zeros((), dtype)}


def _numpy_minibatch_gd(x, y, lr, batch_size, steps):
    """Minibatch GD on 1/2 mean (y - x w - b)^2 over consecutive batches (no shuffling).

    Returns the params after each step and the loss of each step (at the params before it).
    """
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    w, b = np.zeros(3), 0.0
    per_epoch = len(x) // batch_size
    params, losses = [], []
    for t in range(steps):
        i = t % per_epoch
        xb, yb = x[i * batch_size:(i + 1) * batch_size], y[i * batch_size:(i + 1) * batch_size]
        residual = xb @ w + b - yb
        losses.append(0.5 * np.mean(residual**2))
        w, b = w - lr * xb.T @ residual / len(xb), b - lr * residual.mean()
        params.append((w.copy(), b))
    return params, np.array(losses)


def _fit_linear(train, tx=SGD, **kwargs):
    kwargs = {"epochs": 200, "batch_size": 8, "shuffle": False, **kwargs}
    return nets.fit(linear, _zeros(train.x.dtype), nets.l2_loss, tx, train, **kwargs)


def test_fit_lowers_the_loss_on_digits(key):
    data = nets.load_digits(seed=0)
    model = nets.MLP([64, 32, 10])
    params = model.init(key)
    before = nets.evaluate(model, params, nets.softmax_cross_entropy, data.test)
    result = nets.fit(model, params, nets.softmax_cross_entropy, optim.adam(3e-3), data.train,
                      val=data.val, epochs=4, batch_size=32, key=key)
    after = nets.evaluate(model, result.params, nets.softmax_cross_entropy, data.test)
    history = result.history
    assert before["loss"] > 2.0 and after["loss"] < 0.3 and after["accuracy"] > 0.9
    assert history.train_loss[-1] < history.train_loss[0] and len(history.train_loss) == 4
    assert history.metric_name == "accuracy" and history.val_metric[-1] > 0.9
    steps = len(data.train) // 32
    assert result.num_steps == 4 * steps and history.step_loss.shape == (4 * steps,)
    assert result.reason == "epochs" and result.epochs_run == 4
    assert history.step_learning_rate is None and np.isnan(history.learning_rate[0])
    # the caller's params were copied, not donated
    assert float(jnp.sum(params[0]["w"])) == float(jnp.sum(model.init(key)[0]["w"]))


def test_fit_equals_a_hand_written_loop(key):
    train = _regression(dtype=jnp.float32)
    tx = optim.sgd(0.05, momentum=0.9)
    result = nets.fit(linear, _zeros(jnp.float32), nets.l2_loss, tx, train, epochs=3,
                      batch_size=10, key=key)
    step = nets.make_train_step(linear, nets.l2_loss, tx)
    params, state = _zeros(jnp.float32), tx.init(_zeros(jnp.float32))
    losses = []
    for epoch in range(3):
        for batch in nets.iterate_minibatches(jax.random.fold_in(key, epoch), *train, 10):
            params, state, loss = step(params, state, batch.x, batch.y)
            losses.append(float(loss))
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
                 result.params, params)
    np.testing.assert_allclose(result.history.step_loss, losses, rtol=1e-5)
    assert result.num_steps == 3 * 6


def test_epoch_compiles_once_and_fits_share_it(key):
    traces = []

    def model(params, x):
        traces.append(x.shape)
        return linear(params, x)

    train = _regression(dtype=jnp.float32)
    nets.fit(model, _zeros(jnp.float32), nets.l2_loss, SGD, train, epochs=1, batch_size=8)
    once = len(traces)
    nets.fit(model, _zeros(jnp.float32), nets.l2_loss, SGD, train, epochs=6, batch_size=8)
    # six more epochs and a second fit: not one more trace (one scan per epoch, cached)
    assert len(traces) == once
    assert (8, 3) in traces  # the scanned step's minibatch shape


def test_matches_numpy_gd_and_max_steps_fires_mid_epoch(x64):
    train = _regression()
    result = _fit_linear(train, max_steps=13)  # 8 steps per epoch: stops inside epoch two
    params, losses = _numpy_minibatch_gd(train.x, train.y, 0.05, 8, 13)
    assert result.reason == "max_steps" and result.num_steps == 13 and result.epochs_run == 2
    np.testing.assert_allclose(result.params["w"], params[-1][0], rtol=1e-12)
    np.testing.assert_allclose(result.params["b"], params[-1][1], rtol=1e-12)
    np.testing.assert_allclose(result.history.step_loss, losses, rtol=1e-12)


def test_tol_params_fires_at_the_right_step(x64):
    train = _regression()
    tol = 2e-3
    params, _ = _numpy_minibatch_gd(train.x, train.y, 0.05, 8, 1600)
    flat = np.array([np.concatenate([w, [b]]) for w, b in params])
    moves = np.linalg.norm(np.diff(np.vstack([np.zeros(4), flat]), axis=0), axis=1)
    expected = int(np.argmax(moves < tol)) + 1  # 1-based step of the first small update
    assert moves[expected - 1] < tol <= moves[: expected - 1].min()
    result = _fit_linear(train, tol_params=tol)
    assert result.reason == "tol_params" and result.num_steps == expected
    np.testing.assert_allclose(result.params["w"], params[expected - 1][0], rtol=1e-12)
    assert len(result.history.step_loss) == expected


def test_tol_loss_fires_at_the_right_step(x64):
    train = _regression()
    tol = 1e-3
    _, losses = _numpy_minibatch_gd(train.x, train.y, 0.05, 8, 1600)
    changes = np.abs(np.diff(losses))  # changes[i] = |J_{i+2} - J_{i+1}|
    expected = int(np.argmax(changes < tol)) + 2
    result = _fit_linear(train, tol_loss=tol)
    assert result.reason == "tol_loss" and result.num_steps == expected
    np.testing.assert_allclose(result.history.step_loss, losses[:expected], rtol=1e-12)


def test_early_stopping_restores_the_best_params(x64):
    # Train towards w = 2, validate against w = 1: the validation loss falls, then rises.
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(32, 1)))
    train, val = nets.Split(x, 2 * x[:, 0]), nets.Split(x, x[:, 0])
    zeros = {"w": jnp.zeros(1), "b": jnp.zeros(())}
    tx = optim.sgd(0.02)

    def run(**kwargs):
        return nets.fit(linear, zeros, nets.l2_loss, tx, train, val=val, batch_size=32, **kwargs)

    result = run(epochs=200, patience=3)
    val_losses = result.history.val_loss
    best = int(np.argmin(val_losses))
    assert 5 < best < 150 and result.best_epoch == best
    assert result.reason == "early_stopping" and result.epochs_run == best + 1 + 3
    assert all(v > val_losses[best] for v in val_losses[best + 1:])
    reference = run(epochs=best + 1)
    jax.tree.map(np.testing.assert_array_equal, result.params, reference.params)
    assert float(result.params["w"][0]) == pytest.approx(1.0, abs=0.05)
    kept = run(epochs=200, patience=3, restore_best=False)
    assert float(kept.params["w"][0]) > float(result.params["w"][0])


def test_divergence_raises_naming_the_step_and_keeps_finite_params(key):
    train = _regression(dtype=jnp.float32)
    tx = optim.sgd(8.0)
    step = nets.make_train_step(linear, nets.l2_loss, tx, donate=False)
    params, state = _zeros(jnp.float32), tx.init(_zeros(jnp.float32))
    expected = None
    for t in range(1, 1000):
        batch = train.x[(t - 1) % 8 * 8:][:8], train.y[(t - 1) % 8 * 8:][:8]
        new_params, new_state, loss = step(params, state, *batch)
        if not (np.isfinite(float(loss)) and bool(optim.tree_all_finite(new_params))):
            expected = t
            break
        params, state = new_params, new_state
    assert expected is not None and expected > 8  # fails in a later epoch, mid-way or not
    with pytest.raises(nets.DivergenceError, match=f"diverged at step {expected}") as error:
        _fit_linear(train, tx, epochs=500)
    err = error.value
    assert err.step == expected and err.epoch == (expected - 1) // 8
    assert bool(optim.tree_all_finite(err.params))
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5), err.params, params)
    assert len(err.history.step_loss) == expected - 1


def test_divergence_from_nan_gradients_is_caught():
    train = _regression(dtype=jnp.float32)

    def sqrt_model(params, x):  # d/dw sqrt(w) at w = 0 is inf: the params become non-finite
        return linear(params, x) + jnp.sqrt(params["b"] * 0.0)

    with pytest.raises(nets.DivergenceError, match="step 1 ") as error:
        nets.fit(sqrt_model, _zeros(jnp.float32), nets.l2_loss, SGD, train, epochs=1,
                 batch_size=8)
    np.testing.assert_array_equal(error.value.params["w"], 0.0)


def test_learning_rate_is_read_from_injected_hyperparameters():
    train = _regression(dtype=jnp.float32)
    schedule = lambda count: 0.1 / (1.0 + count)
    tx = optim.inject_hyperparams(optim.sgd)(learning_rate=schedule)
    result = nets.fit(linear, _zeros(jnp.float32), nets.l2_loss, tx, train, epochs=2,
                      batch_size=16)
    lrs = result.history.step_learning_rate
    np.testing.assert_allclose(lrs, 0.1 / (1.0 + np.arange(8)), rtol=1e-6)
    np.testing.assert_allclose(result.history.learning_rate, [lrs[3], lrs[7]], rtol=1e-6)


def test_batch_sizes_drop_last_and_extremes(key):
    train = _regression(n=10, dtype=jnp.float32)
    for batch_size, drop_last, steps in [(1, True, 10), (10, True, 1), (4, True, 2),
                                         (4, False, 3)]:
        result = nets.fit(linear, _zeros(jnp.float32), nets.l2_loss, SGD, train, epochs=2,
                          batch_size=batch_size, drop_last=drop_last, key=key)
        assert result.num_steps == 2 * steps, (batch_size, drop_last)
        assert len(result.history.step_loss) == 2 * steps


def test_progress_bar(monkeypatch):
    train = _regression(dtype=jnp.float32)
    shown = io.StringIO()
    monkeypatch.setattr("sys.stderr", shown)
    nets.fit(linear, _zeros(jnp.float32), nets.l2_loss, SGD, train, epochs=2, batch_size=8,
             progress=True)
    assert "2/2" in shown.getvalue()
    silent = io.StringIO()  # not a terminal: no bar by default
    monkeypatch.setattr("sys.stderr", silent)
    nets.fit(linear, _zeros(jnp.float32), nets.l2_loss, SGD, train, epochs=2, batch_size=8)
    assert silent.getvalue() == ""


def test_regression_has_no_metric_and_continues_from_a_state():
    train = _regression(dtype=jnp.float32)
    tx = optim.adam(0.05)
    first = nets.fit(linear, _zeros(jnp.float32), nets.l2_loss, tx, train, epochs=2,
                     batch_size=8)
    assert first.history.metric_name is None and np.isnan(first.history.train_metric[0])
    more = nets.fit(linear, first.params, nets.l2_loss, tx, train, epochs=2, batch_size=8,
                    opt_state=first.opt_state)
    assert int(optim.get_field(more.opt_state, "count")) == 32  # 2 x 2 epochs of 8 steps
    assert more.history.train_loss[-1] < first.history.train_loss[-1]


def test_argument_errors():
    train = _regression(dtype=jnp.float32)
    zeros = _zeros(jnp.float32)
    fit = lambda **kw: nets.fit(linear, zeros, nets.l2_loss, SGD, train,
                                **{"epochs": 1, "batch_size": 8, **kw})
    with pytest.raises(ValueError, match="pass val="):
        fit(patience=2)
    with pytest.raises(ValueError, match="batch_size"):
        fit(batch_size=100)
    with pytest.raises(ValueError, match="epochs must be"):
        fit(epochs=0)
    with pytest.raises(ValueError, match="tol_params must be"):
        fit(tol_params=-1.0)
    with pytest.raises(ValueError, match="NaN or Inf"):
        nets.fit(linear, {"w": jnp.full(3, jnp.nan), "b": jnp.zeros(())}, nets.l2_loss, SGD,
                 train, epochs=1, batch_size=8)
    with pytest.raises(TypeError, match="Split or an"):
        nets.fit(linear, zeros, nets.l2_loss, SGD, train.x, epochs=1, batch_size=8)


def test_bfloat16_params_keep_their_dtype():
    train = _regression(dtype=jnp.bfloat16)
    result = nets.fit(linear, _zeros(jnp.bfloat16), nets.l2_loss, SGD, train, epochs=3,
                      batch_size=8)
    assert all(leaf.dtype == jnp.bfloat16 for leaf in jax.tree.leaves(result.params))
    assert result.history.step_loss.dtype == np.float64  # reported in float64 on the host
    assert result.history.train_loss[-1] < 0.5 * result.history.step_loss[0]
