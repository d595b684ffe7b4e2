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


def test_cli_writes_a_sensible_table_and_plots(tmp_path, capsys):
    out, table = tmp_path / "plots", tmp_path / "table.json"
    code = compare.main(["--optimizers", "sgd,adam", "--epochs", "2", "--hidden", "32",
                         "--out", str(out), "--json", str(table), "--seed", "1"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "optimizer" in printed and "test acc" in printed
    assert printed.count("\nsgd ") == 1 and printed.count("\nadam ") == 1

    report = json.loads(table.read_text())
    assert report["dataset"] == "digits" and report["epochs"] == 2 and report["seed"] == 1
    assert report["model"]["layer_sizes"] == [64, 32, 10]
    assert report["examples"] == {"train": 1258, "val": 180, "test": 359}
    rows = report["results"]
    assert [r["optimizer"] for r in rows] == ["sgd", "adam"]
    for row in rows:
        assert 0.5 < row["test_accuracy"] <= 1.0  # two epochs of a small MLP: far above 10%
        assert 0 < row["final_train_loss"] < np.log(10)  # below the loss of a uniform guess
        assert row["seconds"] > 0 and row["compile_seconds"] > 0
        assert row["steps"] == 2 * (1258 // 32)
    assert rows[0]["hyperparameters"] == {"learning_rate": 0.1}

    assert len(report["plots"]) == 5
    for path in report["plots"]:
        image = matplotlib.image.imread(path)
        assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 500
        assert image[..., :3].std() > 0.05  # not a blank canvas
    assert sorted(p.name for p in out.iterdir()) == [
        "landscape_lecture_quadratic.png", "landscape_rosenbrock.png",
        "loss_moving_average.png", "loss_per_epoch.png", "loss_raw.png",
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


def test_module_entry_point():
    done = subprocess.run([sys.executable, "-m", "nets.compare", "--help"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    for option in ["--dataset", "--optimizers", "--epochs", "--batch-size", "--seed", "--out",
                   "--json", "--no-landscapes"]:
        assert option in done.stdout


def test_another_dataset_in_process(tmp_path):
    report = compare.run(dataset="breast_cancer", optimizers=["adam"], epochs=1,
                         batch_size=16, hidden=(8,), out=None, landscapes=(), log=None)
    row = report["results"][0]
    assert report["task"] == "binary" and report["model"]["layer_sizes"] == [30, 8, 1]
    assert row["optimizer"] == "adam" and row["test_accuracy"] > 0.6
    assert report["plots"] == [] and report["landscapes"] == []


def test_unknown_optimizer_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        compare.main(["--optimizers", "sgd,lbfgs-ish"])
    assert exit_info.value.code == 2
    assert "unknown optimizers" in capsys.readouterr().err


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
    paths = nets.plots._paths(bowl, {"sgd": diverged, "bare": diverged.trajectory,
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
