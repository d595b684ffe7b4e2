"""Checkpoints of a training run: what `fit` and `sweep` write with `checkpoint_dir=`, and
the checks `resume=True` makes before it picks a run up.

A run's checkpoint is one pytree (params, optimizer state, the step counters, and whatever
else the loop carries on the device) plus a JSON record: the epochs done, the history so far,
the early-stopping memory, the shuffle key, and the settings the run was started with. Resuming
compares those settings with the call's and refuses a different run (another batch size, key,
training set, grid...), since continuing it would end neither where the checkpointed run would
nor where the new one would. Only `epochs` may grow, to extend a finished run.
"""

from __future__ import annotations

import math
import os
from typing import Any

import jax
import numpy as np

from _descent import validation
from nets.checkpoints import RunCheckpoints
from nets.training.parallel import to_host
from nets.training.results import History


def open_run(checkpoint_dir: str | os.PathLike | None, *, checkpoint_every: Any, keep: Any,
             resume: Any) -> tuple[RunCheckpoints | None, int]:
    """The run's checkpoint directory (None without `checkpoint_dir`) and `checkpoint_every`,
    checked. Without `resume`, a directory that already holds checkpoints is refused, so a
    run never mixes its checkpoints with another's."""
    resume = validation.boolean("resume", resume)
    every = validation.integer("checkpoint_every", checkpoint_every, 1)
    if keep is not None:
        keep = validation.integer("keep", keep, 1)
    if checkpoint_dir is None:
        if resume:
            raise ValueError("resume=True continues from checkpoints: pass checkpoint_dir=")
        return None, every
    run = RunCheckpoints(checkpoint_dir, keep=keep)
    if not resume and run.latest() is not None:
        run.close()
        raise FileExistsError(
            f"checkpoint_dir {run.directory} already holds checkpoints (the latest after "
            f"{run.latest()} epochs); pass resume=True to continue that run, or choose "
            "another directory"
        )
    return run, every


def key_record(key: jax.Array) -> list[int]:
    """A shuffle key as JSON: its key data (typed keys) or its words (raw uint32 keys)."""
    if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.key_data(key)
    return np.asarray(key).ravel().tolist()


def check_settings(run: RunCheckpoints, saved: dict[str, Any], current: dict[str, Any]) -> None:
    """Raise unless the checkpointed run was started with the settings of this call."""
    for name, value in current.items():
        if name not in saved or not _same(saved[name], value):
            was = saved.get(name, "<not recorded>")
            raise ValueError(
                f"resume=True: the checkpoints in {run.directory} are of a run with "
                f"{name}={_said(was)}, this call has {name}={_said(value)}; resume with the "
                "arguments the run was started with, or choose another checkpoint_dir"
            )


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def _said(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def floats(values: Any) -> list[float]:
    """Numbers as a JSON list of Python floats (exact: a float64 round-trips through repr)."""
    return [float(v) for v in np.asarray(values, np.float64).ravel()]


def should_save(run: RunCheckpoints | None, epochs_done: int, every: int, last: bool) -> bool:
    """Whether to checkpoint after `epochs_done` epochs: every `every` and at the end."""
    return run is not None and (epochs_done % every == 0 or last)


def curves_record(step_losses: list, metrics: list) -> dict[str, Any]:
    """The per-epoch step losses `(runs, steps)` and metrics `4 x (runs,)` so far, as JSON."""
    losses, scores = to_host((step_losses, metrics))
    return {
        "dtype": str(np.asarray(losses[0]).dtype),
        "step_losses": [[floats(run) for run in np.asarray(epoch)] for epoch in losses],
        "metrics": [[floats(m) for m in epoch] for epoch in scores],
    }


def curves_from(record: dict[str, Any]) -> tuple[list, list]:
    dtype = np.dtype(record["dtype"])
    step_losses = [np.asarray(epoch, dtype).reshape(len(epoch), -1)
                   for epoch in record["step_losses"]]
    metrics = [tuple(np.asarray(m, dtype) for m in epoch) for epoch in record["metrics"]]
    return step_losses, metrics


def history_record(history: History) -> dict[str, Any]:
    """A `fit` history as JSON (its floats exact)."""
    record = {name: floats(getattr(history, name)) for name in _EPOCH_FIELDS}
    record["step_loss"] = floats(history.step_loss)
    lrs = history.step_learning_rate
    record["step_learning_rate"] = None if lrs is None else floats(lrs)
    return record


def history_from(record: dict[str, Any], metric_name: str | None) -> History:
    lrs = record["step_learning_rate"]
    return History(
        step_loss=np.asarray(record["step_loss"], np.float64),
        step_learning_rate=None if lrs is None else np.asarray(lrs, np.float64),
        metric_name=metric_name,
        **{name: [float(v) for v in record[name]] for name in _EPOCH_FIELDS},
    )


_EPOCH_FIELDS = ("train_loss", "train_metric", "val_loss", "val_metric", "learning_rate",
                 "seconds")
