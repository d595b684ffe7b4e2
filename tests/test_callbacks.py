"""fit's callbacks, metric logs, TensorBoard events, plot_history, the progress display and
the printed summaries of FitResult, SweepResult and MinimizeResult."""

import io
import math
import re
import struct
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nets
import optim

# Shared objects, so every fit below reuses one compiled epoch.
DIGITS = nets.load_digits(seed=0)
TRAIN = nets.Split(DIGITS.train.x[:192], DIGITS.train.y[:192])  # 6 steps of 32 per epoch
VAL = nets.Split(DIGITS.val.x[:64], DIGITS.val.y[:64])
MODEL = nets.MLP((64, 16, 10))
PARAMS = MODEL.init(jax.random.key(0))
ADAM = optim.inject_hyperparams(optim.adam)(learning_rate=3e-3)  # exposes its learning rate
LOSS = nets.softmax_cross_entropy


def _fit(**kwargs):
    kwargs = {"val": VAL, "epochs": 3, "batch_size": 32, "progress": False, **kwargs}
    return nets.fit(MODEL, PARAMS, LOSS, ADAM, TRAIN, **kwargs)


def _rows_of(history):
    return [{"epoch": e, "train_loss": history.train_loss[e],
             "train_accuracy": history.train_metric[e], "val_loss": history.val_loss[e],
             "val_accuracy": history.val_metric[e], "learning_rate": history.learning_rate[e],
             "seconds": history.seconds[e]} for e in range(len(history.train_loss))]


def _same_rows(logged, history, steps_per_epoch=6):
    expected = _rows_of(history)
    assert len(logged) == len(expected)
    for row, want in zip(logged, expected, strict=True):
        assert row["step"] == (want["epoch"] + 1) * steps_per_epoch
        for name, value in want.items():
            assert row[name] == value, (name, row[name], value)  # exact: floats round-trip


def test_metric_logs_equal_the_history(tmp_path):
    seen = []
    csv_log = nets.MetricLogger(tmp_path / "log.csv")
    json_log = nets.MetricLogger(tmp_path / "log.jsonl", format="jsonl")
    result = _fit(callbacks=[csv_log, json_log, seen.append])
    _same_rows(csv_log.read(), result.history)
    _same_rows(json_log.read(), result.history)
    assert [m.epoch for m in seen] == [0, 1, 2] and seen[-1].step == result.num_steps == 18
    assert seen[-1].learning_rate == pytest.approx(3e-3)
    header = (tmp_path / "log.csv").read_text().splitlines()[0]
    assert header == ("epoch,step,train_loss,train_accuracy,val_loss,val_accuracy,"
                      "learning_rate,seconds")


def test_a_resumed_run_logs_each_epoch_once(tmp_path):
    log = tmp_path / "log.csv"

    def killed_at_epoch_2(metrics):
        if metrics.epoch == 2:  # after the logger wrote epoch 2, before its checkpoint
            raise KeyboardInterrupt

    run = {"checkpoint_dir": tmp_path / "run", "epochs": 4, "checkpoint_every": 2}
    with pytest.raises(KeyboardInterrupt):
        _fit(callbacks=[nets.MetricLogger(log), killed_at_epoch_2], **run)
    assert len(nets.MetricLogger(log).read()) == 3  # epochs 0, 1, 2; the checkpoint has 2
    resumed = _fit(callbacks=[nets.MetricLogger(log)], resume=True, **run)
    assert resumed.epochs_run == 4
    _same_rows(nets.MetricLogger(log).read(), resumed.history)


def test_a_callback_that_asks_stops_at_that_epoch():
    result = _fit(epochs=5, callbacks=[lambda m: m.epoch == 1])
    assert (result.epochs_run, result.num_steps, result.reason) == (2, 12, "callback")
    assert "returned True" in result.stopped_by
    assert len(result.history.train_loss) == 2

    def enough(metrics):
        if metrics.train_loss < 10:
            raise nets.StopTraining(f"train loss {metrics.train_loss:.3f} is low enough")

    result = _fit(callbacks=[enough])
    assert result.epochs_run == 1 and result.reason == "callback"
    assert result.stopped_by.startswith("train loss ")
    assert "stopped by callback (train loss" in str(result)


def test_step_callbacks_see_every_kth_step():
    class Steps(nets.Callback):
        every_steps = 4

        def __init__(self):
            self.seen = []

        def on_steps(self, metrics):
            self.seen.append(metrics)

    steps = Steps()
    result = _fit(callbacks=[steps])
    assert [m.step for m in steps.seen] == [4, 8, 12, 16]
    assert [m.epoch for m in steps.seen] == [0, 1, 1, 2]  # 6 steps per epoch
    history = result.history
    assert [m.loss for m in steps.seen] == [history.step_loss[s - 1] for s in (4, 8, 12, 16)]
    assert [m.learning_rate for m in steps.seen] == [
        history.step_learning_rate[s - 1] for s in (4, 8, 12, 16)]


def test_early_stopping_as_a_callback_and_its_errors():
    # No training loss beats the first by 100: stop after `patience` more epochs.
    stop = nets.EarlyStopping(patience=2, min_delta=100.0, monitor="train_loss")
    result = _fit(epochs=6, callbacks=[stop])
    assert (result.epochs_run, result.reason) == (3, "early_stopping")
    assert "train_loss did not improve for 2 epochs (best" in result.stopped_by
    assert stop.state_dict()["waited"] == 2
    with pytest.raises(ValueError, match="pass val= to fit"):
        _fit(val=None, callbacks=[nets.EarlyStopping(patience=1)])
    with pytest.raises(ValueError, match="monitor must be one of .*got 'loss'"):
        nets.EarlyStopping(patience=1, monitor="loss")
    with pytest.raises(ValueError, match="patience must be a positive integer, got 0"):
        nets.EarlyStopping(patience=0)
    # fit's own early stopping keeps its behaviour: best params restored, best epoch said
    result = _fit(epochs=4, patience=1, min_delta=100.0)
    assert (result.epochs_run, result.reason, result.best_epoch) == (2, "early_stopping", 0)


def test_bad_callbacks_are_named():
    with pytest.raises(TypeError, match=r"callbacks\[1\] must be a function .* got 3"):
        _fit(callbacks=[print, 3])
    with pytest.raises(TypeError, match="callbacks must be a list .* got 'log.csv'"):
        _fit(callbacks="log.csv")
    with pytest.raises(TypeError, match=r"callbacks\[0\] \(<lambda>\) returned 0.5; a callback "
                                        "returns None, or True to stop"):
        _fit(epochs=1, callbacks=[lambda m: 0.5])

    class Every(nets.Callback):
        every_steps = 0

    with pytest.raises(ValueError, match=r"callbacks\[0\].every_steps must be a positive"):
        _fit(callbacks=[Every()])


def _tensorboard_scalars(logdir):
    """{tag: [(step, value)]} from the event files, honouring TensorBoard's purge rule: a
    SessionLog START at step s hides the earlier events with step >= s."""
    from tensorboardX.proto import event_pb2

    scalars = {}
    for path in sorted(logdir.glob("events.out.tfevents.*")):
        data = path.read_bytes()
        at = 0
        while at < len(data):
            (length,) = struct.unpack("<Q", data[at:at + 8])
            event = event_pb2.Event.FromString(data[at + 12:at + 12 + length])
            at += 12 + length + 4
            if event.HasField("session_log") and event.session_log.status == 1:
                scalars = {t: [(s, v) for s, v in kept if s < event.step]
                           for t, kept in scalars.items()}
            for value in event.summary.value:
                scalars.setdefault(value.tag, []).append((event.step, value.simple_value))
    return scalars


def test_tensorboard_events_read_back(tmp_path):
    logdir = tmp_path / "tb"
    run = {"checkpoint_dir": tmp_path / "run", "epochs": 3, "checkpoint_every": 2}

    def killed_at_epoch_2(metrics):
        if metrics.epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _fit(callbacks=[nets.TensorBoardLogger(logdir, every_steps=5), killed_at_epoch_2],
             **run)
    result = _fit(callbacks=[nets.TensorBoardLogger(logdir, every_steps=5)], resume=True,
                  **run)
    scalars = _tensorboard_scalars(logdir)
    history = result.history
    assert scalars["train/loss"] == [(6 * (e + 1), pytest.approx(v, rel=1e-6))
                                     for e, v in enumerate(history.train_loss)]
    assert [v for _, v in scalars["val/accuracy"]] == pytest.approx(history.val_metric)
    assert [v for _, v in scalars["learning_rate"]] == pytest.approx([3e-3] * 3)
    assert scalars["train/step_loss"] == [
        (s, pytest.approx(history.step_loss[s - 1], rel=1e-6)) for s in (5, 10, 15)]


def test_tensorboard_logger_without_tensorboardx_says_which_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    with pytest.raises(ImportError, match=re.escape("pip install 'descent[tensorboard]'")):
        nets.TensorBoardLogger("unused")


def test_plot_history_draws_every_panel(tmp_path):
    result = _fit(epochs=2)
    fig = nets.plot_history(result, tmp_path / "history.png")
    assert (tmp_path / "history.png").stat().st_size > 0
    axes = {ax.get_title(): ax for ax in fig.axes if ax.get_title()}
    assert set(axes) == {"Loss per epoch", "Accuracy per epoch", "Learning rate",
                         "Loss per step"}
    assert fig.get_suptitle() == "Training history: 2 epochs, 12 steps"
    for title, ax in axes.items():
        assert ax.get_xlabel() and ax.get_ylabel(), title
        assert ax.get_legend() is not None, title
    loss = axes["Loss per epoch"]
    assert [t.get_text() for t in loss.get_legend().get_texts()] == ["train", "validation"]
    np.testing.assert_array_equal(loss.lines[0].get_ydata(), result.history.train_loss)
    steps = axes["Loss per step"]
    assert steps.get_xlabel() == "step" and len(steps.lines) == 2  # raw, moving average
    np.testing.assert_array_equal(steps.lines[0].get_ydata(), result.history.step_loss)
    # without validation, metric or learning rate (a regression with plain SGD, say): the
    # loss panels only, with the training curve alone
    nan = [math.nan, math.nan]
    plain = nets.History(step_loss=np.array([3.0, 2.0, 1.5, 1.0]), step_learning_rate=None,
                         train_loss=[2.0, 1.0], train_metric=nan, val_loss=nan, val_metric=nan,
                         learning_rate=nan, seconds=[0.1, 0.1], metric_name=None)
    fig = nets.plot_history(plain)
    axes = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in axes] == ["Loss per epoch", "Loss per step"]
    assert [t.get_text() for t in axes[0].get_legend().get_texts()] == ["train"]


def test_progress_shows_compiling_then_a_rate_of_compiled_epochs(monkeypatch):
    import nets.training.fit as fit_module

    compile_for_real = fit_module._compile

    def slow_compile(*args):  # a compile of 1.5 s, longer than the three epochs
        compile_for_real(*args)
        import time

        time.sleep(1.5)

    monkeypatch.setattr(fit_module, "_compile", slow_compile)
    shown = io.StringIO()
    result = _fit(progress=shown)
    text = shown.getvalue()
    assert "fit: compiling the epoch (6 steps)..." in text
    compiled = float(re.search(r"fit: compiled in ([\d.]+)s", text).group(1))
    assert compiled >= 1.5 and result.history.compile_seconds >= 1.5
    final = text.split("\r")[-1]
    assert "3/3 [00:00<00:00" in final  # the bar's clock started after compiling
    assert "loss=" in final and "val=" in final
    assert sum(result.history.seconds) < 1.5  # the epochs' seconds exclude compilation
    with pytest.raises(TypeError, match="progress must be None .* got 'yes'"):
        _fit(progress="yes")


def test_fit_result_prints_a_summary():
    result = _fit(patience=5)
    text = str(result)
    lines = text.splitlines()
    assert len(lines) <= 6 and repr(result) == text
    assert lines[0] == "FitResult: 3 epochs, 18 steps, stopped by epochs"
    assert re.fullmatch(r"  final train_loss [\d.]+, train_accuracy [\d.]+", lines[1])
    assert re.fullmatch(r"  final val_loss [\d.]+, val_accuracy [\d.]+", lines[2])
    assert lines[3] == (f"  best epoch {result.best_epoch} (val_loss "
                        f"{result.history.val_loss[result.best_epoch]:.4g})")
    assert re.fullmatch(r"  [\d.]+ s training, [\d.]+ s compiling; fields: .*", lines[4])
    assert "History(3 epochs, 18 steps" in repr(result.history)


@pytest.mark.slow
def test_a_sweep_prints_a_summary_and_writes_its_per_run_log(tmp_path):
    search = nets.sweep(MODEL, LOSS, optim.adam, TRAIN, val=VAL,
                        grid={"learning_rate": [1e-3, 3e-3]}, seeds=[0, 1], epochs=2,
                        batch_size=32)
    lines = str(search).splitlines()
    assert len(lines) <= 5 and repr(search) == str(search)
    assert lines[0].startswith("SweepResult: 4 runs (2 configurations x 2 seeds), 2 epochs, "
                               "12 steps each, ")
    assert lines[1] == (f"  best: learning_rate={search.best['learning_rate']:.4g} (val_loss "
                        f"{search.best_score:.4g}, mean over seeds)")
    assert lines[2].startswith("  final val_loss ") and lines[2].endswith("0 diverged")
    search.write_log(tmp_path / "sweep.csv")
    search.write_log(tmp_path / "sweep.jsonl", format="jsonl")
    csv_rows = nets.MetricLogger(tmp_path / "sweep.csv").read()
    json_rows = nets.MetricLogger(tmp_path / "sweep.jsonl", format="jsonl").read()
    assert len(csv_rows) == len(json_rows) == 4 * 2
    for i, (row, same) in enumerate(zip(csv_rows, json_rows, strict=True)):
        run, epoch = divmod(i, 2)
        assert row == same
        assert (row["run"], row["epoch"], row["seed"]) == (run, epoch, search.table[run]["seed"])
        assert row["learning_rate"] == search.table[run]["learning_rate"]
        assert row["train_loss"] == search.train_loss[run, epoch]
        assert row["val_accuracy"] == search.val_metric[run, epoch]
    with pytest.raises(ValueError, match="format must be one of 'csv', 'jsonl', got 'txt'"):
        search.write_log(tmp_path / "sweep.txt", format="txt")


def test_minimize_result_prints_a_summary():
    bowl = optim.landscapes.lecture_quadratic()
    result = optim.minimize(bowl.fn, jnp.array(bowl.start), optim.sgd(0.05), max_steps=500,
                            tol_grad=1e-4)
    lines = str(result).splitlines()
    assert len(lines) <= 4 and repr(result) == str(result)
    assert lines[0] == (f"MinimizeResult: converged (tol_grad) after {int(result.num_steps)} "
                        "steps")
    assert lines[1] == (f"  value {float(result.value):.6g}, gradient norm "
                        f"{float(result.grad_norm):.3g}")
    assert math.isfinite(float(result.value))
