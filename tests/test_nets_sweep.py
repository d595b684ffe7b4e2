"""Sweeps: one compiled program whose every row equals the configuration trained alone."""

import logging

import jax
import numpy as np
import pytest

import nets
import optim

MODEL = nets.MLP([30, 16, 1], activation="tanh")
GRID = {"learning_rate": [0.001, 0.03], "weight_decay": [0.0, 0.05]}
SEEDS = [0, 3]


@pytest.fixture(scope="module")
def cancer():  # (the breast-cancer set: binary, 30 features, 399 training examples)
    return nets.load_breast_cancer(seed=0)


@pytest.fixture(scope="module")
def result(cancer):
    return nets.sweep(MODEL, nets.binary_cross_entropy, optim.adamw, cancer.train,
                      val=cancer.val, grid=GRID, seeds=SEEDS, epochs=3, batch_size=24)


def test_table_layout(result):
    assert len(result.table) == 2 * 2 * 2
    first = result.table[0]
    assert list(first) == ["learning_rate", "weight_decay", "seed", "train_loss", "val_loss",
                           "val_metric", "diverged"]
    combos = [(r["learning_rate"], r["weight_decay"], r["seed"]) for r in result.table]
    assert combos == [(lr, wd, s) for lr in GRID["learning_rate"]
                      for wd in GRID["weight_decay"] for s in SEEDS]
    assert result.train_loss.shape == (8, 3) and result.val_loss.shape == (8, 3)
    steps = len(result.step_loss[0])
    assert result.step_loss.shape == (8, steps) and steps == 3 * (399 // 24)
    assert jax.tree.leaves(result.params)[0].shape[0] == 8
    assert not any(r["diverged"] for r in result.table)
    text = result.format_table()
    assert "learning_rate" in text and len(text.splitlines()) == 9


def test_every_row_equals_the_configuration_trained_alone(result, cancer):
    tx = optim.inject_hyperparams(optim.adamw)(learning_rate=0.01, weight_decay=0.0)
    for r, row in enumerate(result.table):
        init_key, shuffle_key = nets.seed_keys(row["seed"])
        params = MODEL.init(init_key)
        state = optim.set_field(tx.init(params), learning_rate=row["learning_rate"],
                                weight_decay=row["weight_decay"])
        alone = nets.fit(MODEL, params, nets.binary_cross_entropy, tx, cancer.train,
                         val=cancer.val, epochs=3, batch_size=24, key=shuffle_key,
                         opt_state=state)
        swept = jax.tree.map(lambda leaf, r=r: leaf[r], result.params)
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6),
                     swept, alone.params)
        np.testing.assert_allclose(result.step_loss[r], alone.history.step_loss, rtol=1e-6,
                                   atol=1e-6)
        np.testing.assert_allclose(result.val_loss[r], alone.history.val_loss, rtol=1e-6)
        assert row["val_metric"] == pytest.approx(alone.history.val_metric[-1], abs=1e-6)


def test_rows_differ_by_configuration(result):
    # a sweep whose hyperparameters were ignored would give equal rows
    by_lr = {lr: [r["train_loss"] for r in result.table if r["learning_rate"] == lr]
             for lr in GRID["learning_rate"]}
    assert np.mean(by_lr[0.03]) < np.mean(by_lr[0.001])
    seeds = [r["train_loss"] for r in result.table[:2]]
    assert seeds[0] != seeds[1]


def test_best_is_the_lowest_mean_validation_loss(result):
    means = {}
    for row in result.table:
        means.setdefault((row["learning_rate"], row["weight_decay"]), []).append(row["val_loss"])
    best = min(means, key=lambda k: np.mean(means[k]))
    assert result.best == {"learning_rate": best[0], "weight_decay": best[1]}
    assert result.best_score == pytest.approx(np.mean(means[best]))


def test_fixed_arguments_and_errors(cancer):
    run = lambda **kw: nets.sweep(MODEL, nets.binary_cross_entropy, optim.sgd, cancer.train,
                                  **{"epochs": 1, "batch_size": 24, **kw})
    result = run(grid={"learning_rate": [0.05]}, fixed={"momentum": 0.9, "nesterov": True})
    assert np.isnan(result.table[0]["val_loss"])  # no validation split: NaN, best by train loss
    assert result.best == {"learning_rate": 0.05}
    with pytest.raises(ValueError, match="at least one hyperparameter"):
        run(grid={})
    with pytest.raises(ValueError, match="non-empty list"):
        run(grid={"learning_rate": 0.1})
    with pytest.raises(ValueError, match="seeds"):
        run(grid={"learning_rate": [0.1]}, seeds=[])
    with pytest.raises(TypeError, match="init"):
        nets.sweep(lambda p, x: x, nets.l2_loss, optim.sgd, cancer.train,
                   grid={"learning_rate": [0.1]}, epochs=1, batch_size=24)



def test_divergence_is_reported_and_a_refined_grid_reuses_the_program(cancer):
    run = lambda grid: nets.sweep(MODEL, nets.binary_cross_entropy, optim.sgd, cancer.train,
                                  val=cancer.val, grid=grid, epochs=2, batch_size=24)
    first = run({"learning_rate": [0.1, 1e38]})
    assert [r["diverged"] for r in first.table] == [False, True]
    assert first.best == {"learning_rate": 0.1}
    # the diverged run kept finite params (its last good ones)
    assert bool(optim.tree_all_finite(jax.tree.map(lambda p: p[1], first.params)))
    # same setup and grid size as the previous sweep: no new compilation
    with pytest.raises(FloatingPointError, match="every configuration"):
        run({"learning_rate": [1e38, 3e38]})
    refined = run({"learning_rate": [0.05, 0.2]})
    assert refined.seconds < first.seconds
    with pytest.raises(ValueError, match="learning_rate"):
        run({"learning_rate": [0.1, -1.0]})  # every value validated by the factory


def test_test_split_evaluation_and_skipping_the_training_split(result, cancer):
    """`test=` is evaluated after the last epoch; `evaluate_train=False` skips the per-epoch
    training-split evaluation and changes nothing else."""
    lean = nets.sweep(MODEL, nets.binary_cross_entropy, optim.adamw, cancer.train,
                      val=cancer.val, test=cancer.test, grid=GRID, seeds=SEEDS, epochs=3,
                      batch_size=24, evaluate_train=False)
    assert np.isnan(lean.train_loss).all()
    np.testing.assert_array_equal(lean.val_loss, result.val_loss)
    np.testing.assert_array_equal(lean.step_loss, result.step_loss)
    assert lean.best == result.best
    for r in range(len(lean.table)):
        params = jax.tree.map(lambda leaf, r=r: leaf[r], lean.params)
        scores = nets.evaluate(MODEL, params, nets.binary_cross_entropy, cancer.test)
        assert lean.test_loss[r] == pytest.approx(scores["loss"], rel=1e-6)
        assert lean.test_metric[r] == pytest.approx(scores["accuracy"], rel=1e-6)
    assert np.isnan(result.test_loss).all()  # no test split given
    assert lean.epoch_seconds.shape == (3,) and (lean.epoch_seconds > 0).all()
    np.testing.assert_array_equal(lean.num_steps, 3 * (399 // 24))


def test_compile_sweep_compiles_what_sweep_runs(cancer, caplog):
    kwargs = dict(grid={"learning_rate": [0.01, 0.02, 0.04]}, seeds=[1], batch_size=24,
                  val=cancer.val, test=cancer.test, evaluate_train=False)
    seconds = nets.compile_sweep(MODEL, nets.binary_cross_entropy, optim.sgd, cancer.train,
                                 **kwargs)
    assert seconds > 0
    with jax.log_compiles(), caplog.at_level(logging.WARNING):
        nets.sweep(MODEL, nets.binary_cross_entropy, optim.sgd, cancer.train, epochs=2, **kwargs)
    compiled = [r.getMessage() for r in caplog.records if "XLA compilation of" in r.getMessage()]
    assert compiled, "the log shows compilations (of the eager set-up at least)"
    assert not [m for m in compiled if "jit(all_runs)" in m], compiled


def test_all_diverged_without_raising(cancer):
    run = nets.sweep(MODEL, nets.binary_cross_entropy, optim.sgd, cancer.train, val=cancer.val,
                     grid={"learning_rate": [1e38]}, epochs=1, batch_size=24,
                     raise_if_diverged=False)
    assert run.best is None and run.table[0]["diverged"]
    with pytest.raises(ValueError, match="nothing to rank by"):
        nets.sweep(MODEL, nets.binary_cross_entropy, optim.sgd, cancer.train,
                   grid={"learning_rate": [0.1]}, epochs=1, batch_size=24, evaluate_train=False)
