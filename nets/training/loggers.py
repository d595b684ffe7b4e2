"""Metric logs written during `fit`: `MetricLogger` (CSV or JSON lines) and
`TensorBoardLogger` (tensorboardX event files, an optional extra).

Both are callbacks (`nets.training.callbacks`). A resumed run's log holds each epoch once:
`MetricLogger` rewrites its file from the restored history when training begins (so rows of
epochs a killed run had logged after its last checkpoint are not repeated), and
`TensorBoardLogger` asks TensorBoard to purge the events after the restored step.
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
from pathlib import Path
from typing import Any

from _descent import validation
from nets.training.callbacks import Callback, EpochMetrics, StepMetrics, TrainingStart


def _number(value: Any) -> Any:
    """JSON has no NaN: a missing value (no validation split, no metric) is null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else repr(value)
    return value


class MetricLogger(Callback):
    """Writes one row per epoch to `path`: epoch, step, train_loss, train_<metric>, val_loss,
    val_<metric>, learning_rate, seconds (`EpochMetrics.as_dict`).

    `format="csv"` writes a header and floats exactly (`repr`: they read back bit for bit;
    NaN as `nan`); `"jsonl"` one JSON object per line (NaN as null). The file is written anew
    when a fresh run begins, and holds the restored epochs when a run resumes, then one row is
    appended (and flushed) per epoch, so a killed run leaves its epochs so far on disk.
    """

    def __init__(self, path: str | os.PathLike, format: str = "csv"):
        self.path = Path(path)
        self.format = validation.choice("format", format, ("csv", "jsonl"))
        self.columns: list[str] | None = None

    def _line(self, row: dict[str, Any]) -> str:
        if self.format == "jsonl":
            return json.dumps({k: _number(v) for k, v in row.items()}) + "\n"
        return ",".join(repr(v) if isinstance(v, float) else str(v) for v in row.values()) + "\n"

    def _header(self, metrics: EpochMetrics | None, metric_name: str | None) -> str:
        if self.format == "jsonl":
            return ""
        row = (metrics or EpochMetrics(0, 0, *[math.nan] * 6, metric_name)).as_dict()
        return ",".join(row) + "\n"

    def on_train_begin(self, start: TrainingStart) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        rows = start.epoch_metrics()
        text = self._header(None, start.history.metric_name)
        text += "".join(self._line(m.as_dict()) for m in rows)
        partial = self.path.with_name(self.path.name + ".partial")
        partial.write_text(text)
        os.replace(partial, self.path)

    def on_epoch_end(self, metrics: EpochMetrics) -> None:
        with open(self.path, "a") as file:
            file.write(self._line(metrics.as_dict()))

    def read(self) -> list[dict[str, Any]]:
        """The rows logged so far, as dicts of numbers (NaN for missing values)."""
        if self.format == "jsonl":
            lines = self.path.read_text().splitlines()
            rows = [json.loads(line) for line in lines if line]
            return [{k: math.nan if v is None else v for k, v in r.items()} for r in rows]
        with open(self.path, newline="") as file:
            return [{k: (int(v) if k in ("epoch", "step", "run", "seed") else float(v))
                     for k, v in r.items()} for r in csv.DictReader(file)]


class TensorBoardLogger(Callback):
    """Writes the epoch metrics (and, with `every_steps=k`, every k-th step's minibatch loss)
    as TensorBoard scalars to `logdir`, against the step count.

    Tags: `train/loss`, `val/loss`, `train/<metric>`, `val/<metric>`, `learning_rate`,
    `seconds_per_epoch`, `train/step_loss`; NaN values (no validation split) are left out.
    Needs tensorboardX: `pip install 'descent[tensorboard]'`.
    """

    def __init__(self, logdir: str | os.PathLike, every_steps: int | None = None):
        try:
            import tensorboardX
        except ImportError as error:
            raise ImportError(
                "nets.TensorBoardLogger writes event files with tensorboardX, which is not "
                "installed: pip install 'descent[tensorboard]' (from a clone: "
                "pip install -e '.[tensorboard]')") from error
        self._writer_class = tensorboardX.SummaryWriter
        self.logdir = str(logdir)
        if every_steps is not None:
            every_steps = validation.integer("every_steps", every_steps, 1)
        self.every_steps = every_steps
        self.writer = None

    def on_train_begin(self, start: TrainingStart) -> None:
        # A resumed run purges what a killed run wrote after its last checkpoint.
        purge = start.steps_done + 1 if start.epochs_done else None
        # tensorboardX names files by the second: a run resumed within it would overwrite the
        # killed run's file, so the names also carry nanoseconds (which keep them in order).
        self.writer = self._writer_class(self.logdir, purge_step=purge,
                                         filename_suffix=f".{time.time_ns()}")

    def _scalar(self, tag: str, value: float, step: int) -> None:
        if math.isfinite(value):
            self.writer.add_scalar(tag, value, step)

    def on_epoch_end(self, metrics: EpochMetrics) -> None:
        metric = metrics.metric_name or "metric"
        for tag, value in (("train/loss", metrics.train_loss), ("val/loss", metrics.val_loss),
                           (f"train/{metric}", metrics.train_metric),
                           (f"val/{metric}", metrics.val_metric),
                           ("learning_rate", metrics.learning_rate),
                           ("seconds_per_epoch", metrics.seconds)):
            self._scalar(tag, value, metrics.step)
        self.writer.flush()

    def on_steps(self, metrics: StepMetrics) -> None:
        self._scalar("train/step_loss", metrics.loss, metrics.step)

    def on_train_end(self, result: Any) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
