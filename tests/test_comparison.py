"""The fair-comparison protocol (`nets.compare_optimizers`): the choice follows validation, the
statistics and ties are scipy's, the results are independent of the company and repeatable."""

import dataclasses
import warnings

import numpy as np
import pytest
from scipy import stats

import nets
import optim

MODEL = nets.MLP((64, 16, 10))
SETTING = dict(seeds=(0, 1), epochs=3, batch_size=64)


@pytest.fixture(scope="module")
def digits():
    return nets.load_digits(seed=0)


@pytest.fixture(scope="module")
def pair(digits):
    """sgd and adam on two rates each, and adam alone: the same numbers expected."""
    grids = {"sgd": [0.03, 0.3], "adam": [1e-3, 1e-2]}
    both = nets.compare_optimizers(MODEL, nets.softmax_cross_entropy,
                                   nets.contenders(["sgd", "adam"]), digits, grids=grids,
                                   target=0.8, **SETTING)
    alone = nets.compare_optimizers(MODEL, nets.softmax_cross_entropy, nets.contenders(["adam"]),
                                    digits, grids=grids, target=0.8, **SETTING)
    return both, alone


def comparable(outcome):
    """Everything an outcome reports except its measured times."""
    return (outcome.learning_rate, outcome.test, outcome.summary, outcome.steps_to_target,
            [dataclasses.astuple(p) for p in outcome.grid], outcome.epoch_loss.tolist(),
            outcome.val_curve.tolist())


def test_an_optimizer_alone_gets_its_numbers_of_the_full_run(pair):
    both, alone = pair
    assert comparable(both.outcome("adam")) == comparable(alone.outcome("adam"))


def test_the_same_comparison_twice_gives_the_same_numbers(pair, digits):
    again = nets.compare_optimizers(MODEL, nets.softmax_cross_entropy, nets.contenders(["adam"]),
                                    digits, grids={"adam": [1e-3, 1e-2]}, target=0.8, **SETTING)
    assert comparable(again.outcome("adam")) == comparable(pair[1].outcome("adam"))


def test_the_choice_is_the_best_mean_validation_metric(pair):
    for outcome in pair[0].outcomes:
        means = [p.val_metric_mean for p in outcome.grid]
        assert outcome.learning_rate == outcome.grid[int(np.argmax(means))].learning_rate
        rows = np.asarray(outcome.val_by_rate)
        np.testing.assert_allclose(rows.mean(axis=1), means)
        np.testing.assert_allclose(rows.std(axis=1, ddof=1), [p.val_metric_std for p in outcome.grid])


def test_numbers_match_a_sweep_of_the_chosen_rate(pair, digits):
    """The reported test accuracy per seed is the sweep's, evaluated after the last epoch."""
    outcome = pair[0].outcome("sgd")
    sweep = nets.sweep(MODEL, nets.softmax_cross_entropy, optim.sgd, digits.train,
                       grid={"learning_rate": [outcome.learning_rate]}, val=digits.val,
                       test=digits.test, evaluate_train=False, eval_params=True, **SETTING)
    np.testing.assert_array_equal(sweep.test_metric, outcome.test)
    np.testing.assert_array_equal(sweep.val_metric, outcome.val_curve)


def test_statistics_are_scipys(pair):
    for outcome in pair[0].outcomes:
        x = np.asarray(outcome.test)
        assert outcome.summary.mean == pytest.approx(x.mean())
        assert outcome.summary.std == pytest.approx(x.std(ddof=1))
        if x.std() > 0:
            low, high = stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
            np.testing.assert_allclose(outcome.summary.ci95, (low, high), rtol=1e-12)
        else:
            assert outcome.summary.ci95 == (x.mean(), x.mean())


def test_ties_follow_welchs_test_at_5_percent():
    rng = np.random.default_rng(0)
    for _ in range(200):
        a = rng.normal(0.97, rng.uniform(0.001, 0.02), rng.integers(2, 8))
        b = rng.normal(0.97 + rng.normal(0, 0.01), rng.uniform(0.001, 0.02), rng.integers(2, 8))
        expected = stats.ttest_ind(a, b, equal_var=False).pvalue
        assert nets.welch_p_value(a, b) == pytest.approx(expected, rel=1e-9)
    assert nets.welch_p_value([0.98, 0.98], [0.98, 0.98]) == 1.0  # no spread, equal
    assert nets.welch_p_value([0.98, 0.98], [0.97, 0.97]) == 0.0  # no spread, apart
    s = nets.summarize([0.9, 0.92, 0.97])
    assert s.n == 3 and s.ci95[0] < s.mean < s.ci95[1]
    with pytest.raises(ValueError, match="at least two"):
        nets.summarize([0.9])
    with pytest.raises(ValueError, match="finite"):
        nets.summarize([0.9, float("nan")])


def test_ties_in_a_comparison_use_the_best_and_scipy(pair):
    both = pair[0]
    best = both.outcome(both.best)
    assert best.summary.mean == max(o.summary.mean for o in both.outcomes)
    for outcome in both.outcomes:
        if outcome is best:
            assert outcome.tied_with_best and outcome.p_value is None
            continue
        a, b = np.asarray(best.test), np.asarray(outcome.test)
        if np.ptp(a) == 0 and np.ptp(b) == 0:
            expected = 1.0 if a[0] == b[0] else 0.0
        else:
            with warnings.catch_warnings():  # seeds that agree exactly are no precision loss
                warnings.simplefilter("ignore", RuntimeWarning)
                expected = stats.ttest_ind(a, b, equal_var=False).pvalue
        assert outcome.p_value == pytest.approx(expected)
        assert outcome.tied_with_best == (expected >= 0.05)


def test_time_to_target_is_the_first_epoch_at_the_target(pair):
    steps_per_epoch = pair[0].settings["steps_per_epoch"]
    for outcome in pair[0].outcomes:
        for curve, steps, seconds in zip(outcome.val_curve, outcome.steps_to_target,
                                         outcome.seconds_to_target, strict=True):
            reached = np.nonzero(curve >= 0.8)[0]
            if reached.size == 0:
                assert steps is None and seconds is None
            else:
                assert steps == (reached[0] + 1) * steps_per_epoch and seconds > 0


def constructed(digits):
    """Digits whose validation labels are shifted by one: a model that learns well is wrong
    on validation, one that barely moves is right 10% of the time. Test labels are true."""
    val = nets.Split(digits.val.x, (digits.val.y + 1) % 10)
    return dataclasses.replace(digits, val=val)


def test_the_choice_follows_validation_not_test(digits):
    """Where the validation-best and the test-best learning rates differ, the validation one
    is chosen (and its poor test accuracy reported)."""
    data = constructed(digits)
    grid = {"sgd": [1e-5, 0.3]}
    result = nets.compare_optimizers(MODEL, nets.softmax_cross_entropy, nets.contenders(["sgd"]),
                                     data, grids=grid, **SETTING)
    sweep = nets.sweep(MODEL, nets.softmax_cross_entropy, optim.sgd, data.train, val=data.val,
                       test=data.test, grid={"learning_rate": grid["sgd"]}, evaluate_train=False,
                       eval_params=True, **SETTING)
    test_by_rate = sweep.test_metric.reshape(2, 2).mean(axis=1)
    val_by_rate = sweep.val_metric[:, -1].reshape(2, 2).mean(axis=1)
    assert test_by_rate[1] > test_by_rate[0] + 0.3  # 0.3 is far better on test
    assert val_by_rate[0] > val_by_rate[1]  # and worse on the shifted validation labels
    outcome = result.outcome("sgd")
    assert outcome.learning_rate == 1e-5
    assert outcome.summary.mean == pytest.approx(test_by_rate[0])


@pytest.mark.slow
def test_regression_compares_the_loss():
    data = nets.make_regression(n=300, seed=0)
    model = nets.MLP((data.num_features, 8, 1))
    result = nets.compare_optimizers(model, nets.l2_loss, nets.contenders(["sgd", "adam"]), data,
                                     grids={"sgd": [1e-3, 1e-2], "adam": [1e-3, 1e-2]},
                                     target=0.5, **SETTING)
    assert result.metric == "loss" and not result.higher_is_better
    assert result.best == min(result.outcomes, key=lambda o: o.summary.mean).optimizer
    for outcome in result.outcomes:
        means = [p.val_metric_mean for p in outcome.grid]
        assert outcome.learning_rate == outcome.grid[int(np.argmin(means))].learning_rate
    data_json = result.to_json()
    assert {"test_loss", "test_loss_mean", "test_loss_ci95"} <= set(data_json["results"][0])
    assert "val_loss_std" in data_json["results"][0]["grid"][0]


def test_a_rate_where_a_seed_diverged_is_not_chosen(digits):
    result = nets.compare_optimizers(MODEL, nets.softmax_cross_entropy, nets.contenders(["sgd"]),
                                     digits, grids={"sgd": [0.1, 1e30]}, **SETTING)
    outcome = result.outcome("sgd")
    assert outcome.grid[1].diverged == 2 and outcome.learning_rate == 0.1
    everywhere = nets.compare_optimizers(MODEL, nets.softmax_cross_entropy,
                                         nets.contenders(["sgd"]), digits,
                                         grids={"sgd": [1e30, 3e30]}, **SETTING)
    lost = everywhere.outcome("sgd")
    assert lost.learning_rate is None and lost.summary is None and everywhere.best is None
    assert "diverged at every learning rate" in everywhere.format_table()


def test_contenders_and_grids():
    names = list(nets.available_contenders())
    assert names[:7] == ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam"]
    for alias in ["adamw", "lion", "lamb", "lars", "adafactor", "muon", "schedule_free_adamw",
                  "nadam", "radam", "rprop"]:
        assert alias in names
    assert "lbfgs" not in names and "newton" not in names  # second order: no grid
    for contender in nets.available_contenders().values():
        assert contender.learning_rate > 0
        tx = contender.factory(learning_rate=contender.learning_rate, **contender.fixed)
        assert isinstance(tx, (optim.GradientTransformation, optim.MultiSteps))
    assert nets.LECTURES["momentum"].fixed == {"momentum": 0.9}
    np.testing.assert_allclose(nets.learning_rate_grid(1e-3, 5, 10.0),
                               [1e-4, 10**-3.5, 1e-3, 10**-2.5, 1e-2])
    with pytest.raises(ValueError, match="unknown optimizers"):
        nets.contenders(["adam", "adamm"])
    with pytest.raises(ValueError, match="points"):
        nets.learning_rate_grid(1e-3, 1)
    with pytest.raises(ValueError, match="span"):
        nets.learning_rate_grid(1e-3, 4, 0.5)


def test_bad_arguments(digits):
    run = lambda **kw: nets.compare_optimizers(
        MODEL, nets.softmax_cross_entropy, nets.contenders(["sgd"]), digits,
        **{**SETTING, **kw})
    with pytest.raises(ValueError, match="at least two distinct seeds"):
        run(seeds=(0,))
    with pytest.raises(ValueError, match="at least two distinct seeds"):
        run(seeds=(1, 1))
    with pytest.raises(ValueError, match="epochs"):
        run(epochs=0)
    with pytest.raises(ValueError, match="batch_size"):
        run(batch_size=0)


@pytest.mark.slow
def test_schedule_free_is_evaluated_at_its_averaged_params(digits):
    """eval_params=True: a schedule-free run is judged at x, not at the gradient point y."""
    kw = dict(grid={"learning_rate": [0.5]}, val=digits.val, test=digits.test,
              evaluate_train=False, **SETTING)
    at_x = nets.sweep(MODEL, nets.softmax_cross_entropy, optim.schedule_free_sgd, digits.train,
                      eval_params=True, **kw)
    at_y = nets.sweep(MODEL, nets.softmax_cross_entropy, optim.schedule_free_sgd, digits.train,
                      eval_params=False, **kw)
    assert not np.array_equal(at_x.val_loss, at_y.val_loss)
    np.testing.assert_array_equal(at_x.step_loss, at_y.step_loss)  # the same training
