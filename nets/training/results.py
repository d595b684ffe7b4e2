"""What training returns: a run's `History` and `FitResult`, `DivergenceError`, a sweep's
`SweepResult`."""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import numpy as np


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
    of wall time (the first epoch includes compilation). `metric_name` names the metric.
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


class FitResult(NamedTuple):
    """The outcome of `fit`.

    `params` are the final params (the best epoch's with early stopping and `restore_best`);
    `opt_state` the final optimizer state; `num_steps` the updates applied; `epochs_run` the
    epochs started; `reason` why training ended (`"epochs"`, `"max_steps"`, `"tol_params"`,
    `"tol_loss"` or `"early_stopping"`); `best_epoch` the 0-based epoch with the lowest
    validation loss (None without a validation split).
    """

    params: Any
    opt_state: Any
    history: History
    num_steps: int
    epochs_run: int
    reason: str
    best_epoch: int | None


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
