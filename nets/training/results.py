"""What training returns: a run's `History` and `FitResult`, `DivergenceError`, a sweep's
`SweepResult`."""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from _descent import validation


class DivergenceError(FloatingPointError):
    """Training produced a NaN or Inf loss or params; carries the last finite params.

    Attributes: `step` (the 1-based step that failed), `epoch` (0-based), `loss` (its value),
    `params` and `opt_state` (after the last good step, `step - 1`), `history` (so far).
    """

    def __init__(self, message: str, *, step: int, epoch: int, loss: float, params: Any,
                 opt_state: Any, history: History):
        super().__init__(message)
        self.step = step
        self.epoch = epoch
        self.loss = loss
        self.params = params
        self.opt_state = opt_state
        self.history = history


@dataclasses.dataclass
class History:
    """What happened during `fit`, as NumPy arrays and lists of floats.

    Per step: `step_loss` (the minibatch loss at the params before the step) and
    `step_learning_rate` (when the optimizer exposes a `learning_rate` field, i.e. under
    `optim.inject_hyperparams`; else None). Per epoch: `train_loss` and `train_metric` on the
    whole training split after the epoch, `val_loss` and `val_metric` (NaN without a validation
    split or metric), `learning_rate` at the epoch's last step (NaN if unknown) and `seconds`
    of wall time. `metric_name` names the metric; `compile_seconds` is the time this `fit`
    call spent compiling before its first epoch (0 when the program was compiled already).
    """

    step_loss: np.ndarray
    step_learning_rate: np.ndarray | None
    train_loss: list[float]
    train_metric: list[float]
    val_loss: list[float]
    val_metric: list[float]
    learning_rate: list[float]
    seconds: list[float]
    metric_name: str | None
    compile_seconds: float = 0.0

    @classmethod
    def empty(cls, metric_name: str | None) -> History:
        return cls(step_loss=np.zeros(0, np.float64), step_learning_rate=None, train_loss=[],
                   train_metric=[], val_loss=[], val_metric=[], learning_rate=[], seconds=[],
                   metric_name=metric_name)

    def __repr__(self) -> str:
        return (f"History({len(self.train_loss)} epochs, {len(self.step_loss)} steps, "
                f"metric {self.metric_name!r}: train_loss, train_metric, val_loss, val_metric, "
                "learning_rate, seconds per epoch; step_loss, step_learning_rate per step)")


class FitResult(NamedTuple):
    """The outcome of `fit`.

    `params` are the final params (the best epoch's with early stopping and `restore_best`);
    `opt_state` the final optimizer state; `num_steps` the updates applied; `epochs_run` the
    epochs started; `reason` why training ended (`"epochs"`, `"max_steps"`, `"tol_params"`,
    `"tol_loss"`, `"early_stopping"`, or `"callback"` when a callback asked to stop);
    `best_epoch` the 0-based epoch with the lowest validation loss (None without a
    validation split); `stopped_by` what a callback said when it stopped the run (else None).
    Printed, it is a summary of a few lines (`summary()`), not the arrays.
    """

    params: Any
    opt_state: Any
    history: History
    num_steps: int
    epochs_run: int
    reason: str
    best_epoch: int | None
    stopped_by: str | None = None

    def summary(self) -> str:
        """A few lines: epochs, steps, why it stopped, the final losses and metric, the best
        epoch, the seconds."""
        h = self.history
        lines = [f"FitResult: {self.epochs_run} epochs, {self.num_steps} steps, "
                 f"stopped by {self.reason}" + (f" ({self.stopped_by})" if self.stopped_by
                                               else "")]
        metric = h.metric_name or "metric"
        for split in ("train", "val"):
            losses, scores = getattr(h, f"{split}_loss"), getattr(h, f"{split}_metric")
            if losses and not math.isnan(losses[-1]):
                line = f"  final {split}_loss {losses[-1]:.4g}"
                if h.metric_name is not None:
                    line += f", {split}_{metric} {scores[-1]:.4g}"
                lines.append(line)
        if self.best_epoch is not None:
            lines.append(f"  best epoch {self.best_epoch} (val_loss "
                         f"{h.val_loss[self.best_epoch]:.4g})")
        lines.append(f"  {sum(h.seconds):.2f} s training, {h.compile_seconds:.2f} s compiling;"
                     " fields: params, opt_state, history, ...")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.summary()


@dataclasses.dataclass
class SweepResult:
    """A sweep's outcome.

    `table`: one dict per run (configuration x seed): the hyperparameters, `seed`,
    `train_loss`, `val_loss`, `val_metric` after the last epoch, `diverged`.
    `best`: the hyperparameters with the lowest validation loss averaged over the seeds (the
    training loss when there is no validation split); `best_score` that average.
    `params`: the final params of every run, stacked along a leading axis in `table` order.
    `train_loss`, `val_loss`, `val_metric`: per-epoch curves, shape `(runs, epochs)`;
    `step_loss`: shape `(runs, steps)`. `seconds`: wall time of the whole sweep;
    `epoch_seconds`: of each epoch of all the runs (the first includes compilation unless
    `compile_sweep` ran first). `num_steps`: the updates each run applied (fewer than the
    steps for a run that diverged). `test_loss`, `test_metric`: per run, on `test` after the
    last epoch (NaN without `test`).
    """

    table: list[dict[str, Any]]
    best: dict[str, float] | None
    best_score: float
    params: Any
    train_loss: np.ndarray
    val_loss: np.ndarray
    val_metric: np.ndarray
    step_loss: np.ndarray
    seconds: float
    metric_name: str | None
    num_steps: np.ndarray | None = None
    test_loss: np.ndarray | None = None
    test_metric: np.ndarray | None = None
    epoch_seconds: np.ndarray | None = None

    def summary(self) -> str:
        """A few lines: runs, epochs, steps, the best configuration, the seconds."""
        seeds = len({row.get("seed") for row in self.table}) or 1
        runs, epochs = len(self.table), int(np.shape(self.train_loss)[-1])
        lines = [f"SweepResult: {runs} runs ({runs // seeds} configurations x {seeds} seeds), "
                 f"{epochs} epochs, {int(np.shape(self.step_loss)[-1])} steps each, "
                 f"{self.seconds:.2f} s"]
        column = "train_loss" if np.all(np.isnan(self.val_loss)) else "val_loss"
        if self.best is not None:
            chosen = ", ".join(f"{k}={_cell(v)}" for k, v in self.best.items())
            lines.append(f"  best: {chosen} ({column} {self.best_score:.4g}, mean over seeds)")
        diverged = sum(bool(row.get("diverged")) for row in self.table)
        final = np.asarray(getattr(self, column))[:, -1] if runs and epochs else np.zeros(0)
        if final.size and not np.all(np.isnan(final)):
            lines.append(f"  final {column} {np.nanmin(final):.4g} to {np.nanmax(final):.4g} "
                         f"across runs; {diverged} diverged")
        lines.append("  format_table() prints one line per run")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.summary()

    def log_rows(self) -> list[dict[str, Any]]:
        """One row per run and epoch: `run`, the hyperparameters, `seed`, `epoch`,
        `train_loss`, `val_loss`, `val_<metric>`, from the per-epoch curves."""
        metric = f"val_{self.metric_name or 'metric'}"
        names = [k for k in (self.table[0] if self.table else {})
                 if k not in ("seed", "train_loss", "val_loss", "val_metric", "diverged")]
        return [{"run": r, **{k: row[k] for k in names}, "seed": row["seed"], "epoch": e,
                 "train_loss": float(self.train_loss[r, e]),
                 "val_loss": float(self.val_loss[r, e]), metric: float(self.val_metric[r, e])}
                for r, row in enumerate(self.table) for e in range(self.train_loss.shape[1])]

    def write_log(self, path: str | os.PathLike, format: str = "csv") -> Path:
        """Write `log_rows()` to `path` as CSV (floats exact) or JSON lines (NaN as null), the
        per-run metric log of a sweep (whose runs train as one program, without callbacks)."""
        format = validation.choice("format", format, ("csv", "jsonl"))
        rows, path = self.log_rows(), Path(path)
        if format == "jsonl":
            text = "".join(json.dumps({k: None if isinstance(v, float) and math.isnan(v)
                                       else v for k, v in row.items()}) + "\n" for row in rows)
        else:
            text = ",".join(rows[0]) + "\n" if rows else ""
            text += "".join(",".join(repr(v) if isinstance(v, float) else str(v)
                                     for v in row.values()) + "\n" for row in rows)
        path.write_text(text)
        return path

    def format_table(self) -> str:
        """The table as aligned text, one run per line."""
        if not self.table:
            return ""
        columns = list(self.table[0])
        cells = [[_cell(row[c]) for c in columns] for row in self.table]
        widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
        lines = ["  ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True))]
        lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
        return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
