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

    assert len(report["plots"]) == 3
    for path in report["plots"]:
        image = matplotlib.image.imread(path)
        assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 500
        assert image[..., :3].std() > 0.05  # not a blank canvas
    assert sorted(p.name for p in out.iterdir()) == [
        "loss_moving_average.png", "loss_per_epoch.png", "loss_raw.png"
    ]


def test_module_entry_point():
    done = subprocess.run([sys.executable, "-m", "nets.compare", "--help"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    for option in ["--dataset", "--optimizers", "--epochs", "--batch-size", "--seed", "--out",
                   "--json"]:
        assert option in done.stdout


def test_another_dataset_in_process(tmp_path):
    report = compare.run(dataset="breast_cancer", optimizers=["adam"], epochs=1,
                         batch_size=16, hidden=(8,), out=None, log=None)
    row = report["results"][0]
    assert report["task"] == "binary" and report["model"]["layer_sizes"] == [30, 8, 1]
    assert row["optimizer"] == "adam" and row["test_accuracy"] > 0.6
    assert report["plots"] == []


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
