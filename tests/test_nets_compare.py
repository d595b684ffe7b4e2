"""The main job, `python -m nets.compare`, end to end on a small setting."""

import json
import subprocess
import sys

import matplotlib.image
import numpy as np
import pytest

import nets
import optim
from nets import compare
from nets.plots import landscapes as landscape_plots

RESULT_FIELDS = {
    "optimizer", "learning_rate", "grid", "seeds", "test_accuracy", "test_accuracy_mean",
    "test_accuracy_std", "test_accuracy_ci95", "tied_with_best", "p_value_vs_best",
    "steps_to_target", "seconds_to_target", "seconds", "compile_seconds", "runs",
}


@pytest.mark.slow
def test_cli_writes_a_sensible_table_and_plots(tmp_path, capsys):
    out, table = tmp_path / "plots", tmp_path / "table.json"
    code = compare.main(["--optimizers", "sgd,adam", "--epochs", "2", "--hidden", "32",
                         "--seeds", "2", "--grid", "2", "--out", str(out), "--json", str(table),
                         "--split-seed", "1"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "optimizer" in printed and "test accuracy (2 seeds)" in printed
    assert "95% interval" in printed and "Welch's t-test at 5%" in printed
    assert printed.count("\nsgd ") == 1 and printed.count("\nadam ") == 1
    assert "phases: " in printed and "total " in printed

    report = json.loads(table.read_text())
    assert report["dataset"] == "digits" and report["epochs"] == 2 and report["split_seed"] == 1
    assert report["model"]["layer_sizes"] == [64, 32, 10]
    assert report["examples"] == {"train": 1258, "val": 180, "test": 359}
    assert report["seeds"] == [0, 1] and report["metric"] == "accuracy"
    assert report["target"] == 0.95 and report["best"] in {"sgd", "adam"}
    rows = report["results"]
    assert [r["optimizer"] for r in rows] == ["sgd", "adam"]
    for row in rows:
        assert RESULT_FIELDS <= set(row)
        assert len(row["test_accuracy"]) == 2 and row["seeds"] == [0, 1]
        for accuracy in row["test_accuracy"]:
            assert 0.5 < accuracy <= 1.0  # two epochs of a small MLP: far above 10%
        low, high = row["test_accuracy_ci95"]
        assert low <= row["test_accuracy_mean"] <= high
        assert row["test_accuracy_mean"] == pytest.approx(np.mean(row["test_accuracy"]))
        assert row["learning_rate"] in [point["learning_rate"] for point in row["grid"]]
        assert len(row["grid"]) == 2 and {"val_accuracy_mean", "val_accuracy_std"} <= set(
            row["grid"][0])
        assert isinstance(row["tied_with_best"], bool) and len(row["steps_to_target"]) == 2
        for steps in row["steps_to_target"]:
            assert steps is None or steps % (1258 // 32) == 0
        assert row["seconds"] > 0 and row["compile_seconds"] > 0 and row["runs"] == 4
    sgd_grid = [point["learning_rate"] for point in rows[0]["grid"]]
    np.testing.assert_allclose(sgd_grid, [0.01, 1.0])  # 0.1 / 10 and 0.1 x 10

    assert len(report["plots"]) == 5
    for path in report["plots"]:
        image = matplotlib.image.imread(path)
        assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 500
        assert image[..., :3].std() > 0.05  # not a blank canvas
    assert sorted(p.name for p in out.iterdir()) == [
        "curves_at_chosen_rates.png", "landscape_lecture_quadratic.png",
        "landscape_rosenbrock.png", "test_metric.png", "tuning_curves.png",
    ]

    # The same two optimizers from the landscapes' starts (f* = 0 at (0, 0) and (1, 1)).
    runs = {(r["landscape"], r["optimizer"]): r for r in report["landscapes"]}
    assert set(runs) == {(land, opt) for land in ["lecture_quadratic", "rosenbrock"]
                         for opt in ["sgd", "adam"]}
    start_gaps = {"lecture_quadratic": 10 * 64 + 0.5 * 64, "rosenbrock": 24.2}
    for (land, _), row in runs.items():
        assert row["steps"] == compare.LANDSCAPES[land][1] and row["reason"] == "max_steps"
        assert 0 <= row["gap"] < start_gaps[land] / 20 and row["gap"] == row["value"]
    assert runs["lecture_quadratic", "sgd"]["hyperparameters"] == {"learning_rate": 0.045}
    # sgd at 0.9 / lambda_max: x1 is gone, x2 = 8 (1 - 0.045)^100 is left
    assert runs["lecture_quadratic", "sgd"]["distance_to_minimum"] == pytest.approx(
        8 * 0.955**100, rel=1e-3)
    assert runs["rosenbrock", "adam"]["distance_to_minimum"] < 0.05


@pytest.mark.slow
def test_module_entry_point():
    done = subprocess.run([sys.executable, "-m", "nets.compare", "--help"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    for option in ["--dataset", "--optimizers", "--list", "--epochs", "--batch-size", "--seeds",
                   "--grid", "--lr-range", "--target", "--split-seed", "--out", "--json",
                   "--no-landscapes"]:
        assert option in done.stdout


@pytest.mark.slow
def test_another_dataset_and_any_alias_in_process():
    report = compare.run(dataset="breast_cancer", optimizers=["adam", "lion"], epochs=1,
                         batch_size=16, hidden=(8,), seeds=(0, 1), grid_points=2, out=None,
                         landscapes=tuple(compare.LANDSCAPES), log=None)
    assert report["task"] == "binary" and report["model"]["layer_sizes"] == [30, 8, 1]
    assert [row["optimizer"] for row in report["results"]] == ["adam", "lion"]
    assert report["results"][0]["test_accuracy_mean"] > 0.6
    assert report["plots"] == []
    # lion has no landscape settings: only the lectures' optimizers run there
    assert {row["optimizer"] for row in report["landscapes"]} == {"adam"}


@pytest.mark.slow
def test_lr_range_gives_every_optimizer_the_same_grid():
    report = compare.run(dataset="breast_cancer", optimizers=["sgd", "adam"], epochs=1,
                         batch_size=32, hidden=(4,), seeds=(0, 1), grid_points=3,
                         lr_range=(1e-3, 1e-1), out=None, landscapes=(), log=None)
    for row in report["results"]:
        np.testing.assert_allclose([p["learning_rate"] for p in row["grid"]], [1e-3, 1e-2, 1e-1])


@pytest.mark.parametrize("argv, message", [
    (["--optimizers", "sgd,lbfgs-ish"], "unknown optimizers"),
    (["--optimizers", "sgd,sgd"], "twice"),
    (["--epochs", "0"], "--epochs: must be a positive integer"),
    (["--batch-size", "0"], "--batch-size: must be a positive integer"),
    (["--batch-size", "5000"], "--batch-size"),
    (["--seeds", "1"], "at least two distinct"),
    (["--seeds", "0,0"], "at least two distinct"),
    (["--grid", "1"], "--grid must be at least 2"),
    (["--lr-range", "0.5"], "--lr-range"),
    (["--lr-range", "1e-2,1e-3"], "--lr-range"),
    (["--target", "1.5"], "--target"),
    (["--hidden", "32,x"], "--hidden"),
    (["--out", "/dev/null"], "--out"),
    (["--json", "/"], "--json"),
    (["--json", "/no/such/dir/t.json"], "--json"),
])
def test_bad_options_are_usage_errors_before_anything_compiles(argv, message, capsys,
                                                               monkeypatch):
    def must_not_run(*args, **kwargs):
        raise AssertionError("compare_optimizers was reached")

    monkeypatch.setattr(compare, "compare_optimizers", must_not_run)
    with pytest.raises(SystemExit) as exit_info:
        compare.main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_list_shows_every_optimizer(capsys):
    assert compare.main(["--list"]) == 0
    printed = capsys.readouterr().out
    for name in nets.available_contenders():
        assert f"\n{name} " in "\n" + printed
    assert "momentum=0.9" in printed


def test_the_seven_lecture_optimizers():
    assert list(compare.OPTIMIZERS) == ["sgd", "momentum", "nesterov", "adagrad", "rmsprop",
                                        "adadelta", "adam"]
    for name in compare.OPTIMIZERS:
        tx = compare.make_optimizer(name)
        assert isinstance(tx, optim.GradientTransformation)
    with pytest.raises(ValueError, match="unknown optimizer"):
        compare.make_optimizer("sgdd")


def test_moving_average():
    steps, averages = nets.moving_average([1.0, 2.0, 3.0, 4.0, 5.0], 2)
    np.testing.assert_array_equal(steps, [1, 2, 3, 4])
    np.testing.assert_allclose(averages, [1.5, 2.5, 3.5, 4.5])
    steps, averages = nets.moving_average([1.0, 3.0], 10)  # window shrinks to the series
    np.testing.assert_allclose(averages, [2.0])
    with pytest.raises(ValueError, match="window"):
        nets.moving_average([1.0], 0)


def test_landscape_plot_marks_divergence_and_takes_any_trajectory(tmp_path):
    bowl = optim.landscapes.lecture_quadratic()
    x0 = np.asarray(bowl.start, np.float32)
    # 0.11 > 2 / lambda_max = 0.1: |x1| grows by 1.2 a step until f overflows float32
    diverged = optim.minimize(bowl.fn, x0, optim.sgd(0.11), max_steps=600,
                              return_trajectory=True)
    assert diverged.reason == "diverged"
    line = np.stack([np.linspace(-8, 0, 5), np.linspace(8, 0, 5)], axis=1)
    # a bare Trajectory of 2 steps in a buffer of 4 rows: the NaN filler is not a divergence
    buffer = optim.Trajectory(np.concatenate([line[:3], np.full((2, 2), np.nan)]),
                              np.array([672.0, 378.0, 168.0, np.nan, np.nan]))
    paths = landscape_plots._paths(bowl, {"sgd": diverged, "bare": diverged.trajectory,
                                     "line": line, "buffer": buffer})
    steps = int(diverged.num_steps)
    assert 200 < steps < 600 and paths["sgd"].diverged and paths["bare"].diverged
    assert len(paths["sgd"].points) == len(paths["bare"].points) == steps  # the finite iterates
    np.testing.assert_allclose(paths["sgd"].values, diverged.trajectory.values[:steps])
    assert paths["line"].steps == 4 and not paths["line"].diverged
    np.testing.assert_allclose(paths["line"].values, [672, 378, 168, 42, 0], rtol=1e-6)
    assert paths["buffer"].steps == 2 and not paths["buffer"].diverged

    saddle = optim.landscapes.saddle()  # minimum unknown: linear levels and values
    path = nets.plot_landscape_trajectories(saddle, {"line": line / 5}, tmp_path / "s.png",
                                            values=True)
    assert matplotlib.image.imread(path)[..., :3].std() > 0.05
    path = nets.plot_landscape_trajectories(bowl, {"sgd": diverged, "line": line},
                                            tmp_path / "b.png", values=False)
    assert matplotlib.image.imread(path).shape[1] < 1000  # one panel
    with pytest.raises(ValueError, match="2-D"):
        nets.plot_landscape_trajectories(optim.landscapes.rosenbrock(3), {}, tmp_path / "r.png")
    with pytest.raises(ValueError, match="return_trajectory"):
        nets.plot_landscape_trajectories(
            bowl, {"sgd": optim.minimize(bowl.fn, x0, optim.sgd(0.11), max_steps=1)},
            tmp_path / "n.png")
