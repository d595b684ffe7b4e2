"""Callbacks: code of the user's that `fit` runs on the host between compiled epochs.

A callback is a function `callback(metrics) -> None | bool` called after every epoch with that
epoch's `EpochMetrics`, or a `Callback` object, whose hooks are all optional:

    on_train_begin(start: TrainingStart)     before the first epoch of this call
    on_epoch_end(metrics: EpochMetrics)      after each epoch
    on_steps(metrics: StepMetrics)           every `every_steps` steps (an attribute)
    on_train_end(result: FitResult | None)   at the end (None when training raised)
    state_dict() / load_state_dict(state)    JSON-able memory, checkpointed with the run

Returning True from `on_epoch_end` or `on_steps` (or raising `StopTraining`) ends training
after the epoch; `result.reason` and `result.stopped_by` say why. The step hooks see the
per-step losses the compiled epoch returns anyway: they run after the epoch, one call per
`every_steps`-th step, so a callback never adds a host sync or a recompilation to a step.

Built in: `EarlyStopping` (here), `MetricLogger` and `TensorBoardLogger` (`loggers.py`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from _descent import validation
from nets.training.results import History

_HOOKS = ("on_train_begin", "on_epoch_end", "on_steps", "on_train_end")


class StopTraining(Exception):
    """Raised by a callback to end `fit` after the current epoch.

    `str(error)` is kept in `result.stopped_by`; `reason` (default `"callback"`) becomes
    `result.reason`.
    """

    def __init__(self, message: str = "", *, reason: str = "callback"):
        super().__init__(message)
        self.reason = reason


@dataclasses.dataclass(frozen=True)
class EpochMetrics:
    """What a callback sees after an epoch: `epoch` (0-based), `step` (the updates so far),
    the losses and metric on the whole training and validation splits after the epoch (NaN
    without `val` or a metric), the `learning_rate` at the epoch's last step (NaN when the
    optimizer does not expose one), the epoch's wall `seconds`, and the `metric_name`."""

    epoch: int
    step: int
    train_loss: float
    train_metric: float
    val_loss: float
    val_metric: float
    learning_rate: float
    seconds: float
    metric_name: str | None

    def as_dict(self) -> dict[str, Any]:
        """A row of a metric log: the metric columns are named after the metric."""
        metric = self.metric_name or "metric"
        return {
            "epoch": self.epoch, "step": self.step, "train_loss": self.train_loss,
            f"train_{metric}": self.train_metric, "val_loss": self.val_loss,
            f"val_{metric}": self.val_metric, "learning_rate": self.learning_rate,
            "seconds": self.seconds,
        }


@dataclasses.dataclass(frozen=True)
class StepMetrics:
    """One step, seen by `on_steps`: `step` (1-based: the step's number), `epoch`, `loss` (its
    minibatch loss, at the params before the step) and its `learning_rate` (NaN if unknown)."""

    epoch: int
    step: int
    loss: float
    learning_rate: float


@dataclasses.dataclass(frozen=True)
class TrainingStart:
    """What `on_train_begin` sees: the `epochs_done` and `steps_done` restored from a
    checkpoint (0 for a fresh run), their `history`, the run's `epochs`, `steps_per_epoch`,
    and whether there is a validation split (`has_val`)."""

    epochs_done: int
    steps_done: int
    history: History
    epochs: int
    steps_per_epoch: int
    has_val: bool

    def epoch_metrics(self) -> list[EpochMetrics]:
        """The restored epochs as `EpochMetrics` (a logger rewrites its log from them)."""
        h = self.history
        return [
            EpochMetrics(
                epoch=e, step=min((e + 1) * self.steps_per_epoch, self.steps_done),
                train_loss=h.train_loss[e], train_metric=h.train_metric[e],
                val_loss=h.val_loss[e], val_metric=h.val_metric[e],
                learning_rate=h.learning_rate[e], seconds=h.seconds[e],
                metric_name=h.metric_name,
            )
            for e in range(len(h.train_loss))
        ]


class Callback:
    """A base class for callbacks with state or several hooks; every hook is optional.

    `every_steps` (None: no step hook) is how often `on_steps` is called.
    """

    every_steps: int | None = None

    def on_train_begin(self, start: TrainingStart) -> None:
        pass

    def on_epoch_end(self, metrics: EpochMetrics) -> bool | None:
        return None

    def on_steps(self, metrics: StepMetrics) -> bool | None:
        return None

    def on_train_end(self, result: Any) -> None:
        pass


class Patience:
    """The best value of a monitored number so far, and whether `patience` epochs passed
    without beating it by more than `min_delta` (lower is better; negate to maximize)."""

    def __init__(self, patience: int | None, min_delta: float):
        self.patience, self.min_delta = patience, min_delta
        self.best, self.best_epoch, self.waited = math.inf, None, 0

    def improved(self, epoch: int, value: float) -> bool:
        """Record `value`; True when it is the new best."""
        if value < self.best - self.min_delta:
            self.best, self.best_epoch, self.waited = value, epoch, 0
            return True
        self.waited += 1
        return False

    @property
    def exhausted(self) -> bool:
        return self.patience is not None and self.waited >= self.patience

    def record(self) -> dict[str, Any]:
        return {"best_loss": self.best, "best_epoch": self.best_epoch, "waited": self.waited}

    def restore(self, record: dict[str, Any]) -> None:
        self.best, self.best_epoch = float(record["best_loss"]), record["best_epoch"]
        self.waited = int(record["waited"])


class EarlyStopping(Callback):
    """Stop when `monitor` has not improved by more than `min_delta` for `patience` epochs.

    `monitor` is one of `"val_loss"` (default), `"val_metric"`, `"train_loss"`,
    `"train_metric"`; `mode="auto"` minimizes losses and maximizes metrics (`"min"`, `"max"`
    to choose). The run ends with `reason="early_stopping"`. Unlike `fit(patience=...)`, which
    monitors the validation loss and restores the best epoch's params, this keeps the last
    params; its memory is checkpointed with the run, so a resumed run stops where the
    uninterrupted one stops.
    """

    MONITORS = ("val_loss", "val_metric", "train_loss", "train_metric")

    def __init__(self, patience: int, min_delta: float = 0.0, monitor: str = "val_loss",
                 mode: str = "auto"):
        self.monitor = validation.choice("monitor", monitor, self.MONITORS)
        mode = validation.choice("mode", mode, ("auto", "min", "max"))
        self.maximize = mode == "max" or (mode == "auto" and monitor.endswith("metric"))
        validation.non_negative("min_delta", min_delta)
        self.patience = validation.integer("patience", patience, 1)
        self.memory = Patience(self.patience, float(min_delta))

    def on_train_begin(self, start: TrainingStart) -> None:
        if self.monitor.startswith("val") and not start.has_val:
            raise ValueError(f"EarlyStopping(monitor={self.monitor!r}) monitors the "
                             "validation split: pass val= to fit, or monitor a train_ value")

    def on_epoch_end(self, metrics: EpochMetrics) -> None:
        value = getattr(metrics, self.monitor)
        self.memory.improved(metrics.epoch, -value if self.maximize else value)
        if self.memory.exhausted:
            best = -self.memory.best if self.maximize else self.memory.best
            raise StopTraining(
                f"EarlyStopping: {self.monitor} did not improve for {self.patience} epochs "
                f"(best {best:.6g} at epoch {self.memory.best_epoch})", reason="early_stopping")

    def state_dict(self) -> dict[str, Any]:
        return self.memory.record()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.memory.restore(state)


def _name(callback: Any) -> str:
    return getattr(callback, "__name__", None) or type(callback).__name__


class Callbacks:
    """The checked list of `fit`'s callbacks, and the calls `fit` makes to them."""

    def __init__(self, callbacks: Any):
        if callbacks is None:
            callbacks = []
        elif callable(callbacks) or isinstance(callbacks, Callback):
            callbacks = [callbacks]
        if not isinstance(callbacks, Sequence) or isinstance(callbacks, str):
            raise TypeError("callbacks must be a list of callables or nets.Callback objects, "
                            f"got {callbacks!r}")
        self.items = list(callbacks)
        for i, cb in enumerate(self.items):
            if not (callable(cb) or any(hasattr(cb, hook) for hook in _HOOKS)):
                raise TypeError(
                    f"callbacks[{i}] must be a function of the epoch's metrics or an object "
                    f"with on_epoch_end / on_steps methods (a nets.Callback), got {cb!r}")
            every = getattr(cb, "every_steps", None)
            if hasattr(cb, "on_steps") and every is not None:
                validation.integer(f"callbacks[{i}].every_steps", every, 1)
        self.stopped_by: str | None = None
        self.reason: str | None = None

    def __bool__(self) -> bool:
        return bool(self.items)

    def _hook(self, cb: Any, hook: str) -> Callable | None:
        if hook == "on_epoch_end" and not hasattr(cb, hook):
            return cb
        return getattr(cb, hook, None)

    def _answer(self, i: int, cb: Any, returned: Any) -> None:
        if returned is None or returned is False:
            return
        if isinstance(returned, bool | np.bool_) and returned:
            self.stopped_by = self.stopped_by or f"{_name(cb)} returned True"
            self.reason = self.reason or "callback"
            return
        raise TypeError(
            f"callbacks[{i}] ({_name(cb)}) returned {returned!r}; a callback returns None, or "
            "True to stop training (or raises nets.StopTraining)")

    def _call(self, i: int, cb: Any, hook: Callable, metrics: Any) -> None:
        try:
            self._answer(i, cb, hook(metrics))
        except StopTraining as stop:
            self.stopped_by = self.stopped_by or (str(stop) or f"{_name(cb)} raised StopTraining")
            self.reason = self.reason or stop.reason

    def begin(self, start: TrainingStart) -> None:
        for cb in self.items:
            if (hook := getattr(cb, "on_train_begin", None)) is not None:
                hook(start)

    def epoch_end(self, metrics: EpochMetrics, history: History, first_step: int) -> bool:
        """Call the step hooks for the epoch's steps `first_step + 1 ...`, then the epoch
        hooks; True when one asked to stop."""
        steps = history.step_loss[first_step:metrics.step]
        lrs = history.step_learning_rate
        for i, cb in enumerate(self.items):
            every, hook = getattr(cb, "every_steps", None), getattr(cb, "on_steps", None)
            if hook is None or every is None:
                continue
            for step in range(-(-(first_step + 1) // every) * every, metrics.step + 1, every):
                lr = math.nan if lrs is None else float(lrs[step - 1])
                self._call(i, cb, hook, StepMetrics(metrics.epoch, step,
                                                    float(steps[step - 1 - first_step]), lr))
        for i, cb in enumerate(self.items):
            if (hook := self._hook(cb, "on_epoch_end")) is not None:
                self._call(i, cb, hook, metrics)
        return self.reason is not None

    def end(self, result: Any) -> None:
        for cb in self.items:
            if (hook := getattr(cb, "on_train_end", None)) is not None:
                hook(result)

    def states(self) -> list[Any]:
        return [cb.state_dict() if hasattr(cb, "state_dict") else None for cb in self.items]

    def restore(self, states: list[Any] | None) -> None:
        if states is None or len(states) != len(self.items):
            return
        for cb, state in zip(self.items, states, strict=True):
            if state is not None and hasattr(cb, "load_state_dict"):
                cb.load_state_dict(state)
