"""`fit`: train a model, one compiled `lax.scan` per epoch, with the lectures' stopping rules.

    model = nets.MLP([64, 128, 10])
    result = nets.fit(model, model.init(key), nets.softmax_cross_entropy, optim.adam(1e-3),
                      data.train, val=data.val, epochs=20, batch_size=32, key=key)
    result.params, result.history.train_loss, result.reason

The epoch (`epoch.py`) is compiled once, on the first epoch, and reused, with the params and
the optimizer state donated so their buffers are updated in place. Around it, on the host:
the history, early stopping on the validation loss (stop when it has not improved by more than
`min_delta` for `patience` epochs; with `restore_best` return the best epoch's params), the
progress bar, and divergence: the first NaN or Inf loss or params raises `DivergenceError`
naming the step, with the last finite params in `error.params`.

With `checkpoint_dir`, the whole state of the run (params, optimizer state, step counters,
early-stopping memory and best params, history) is checkpointed every `checkpoint_every`
epochs and at the end (`nets/training/resume.py`); `resume=True` continues from the latest
complete checkpoint. Epoch `e` always shuffles with `fold_in(key, e)` and the step counters
are restored, so a resumed run ends bit for bit where the uninterrupted one ends.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np

from nets.data import Split, num_batches
from nets.training.epoch import (
    DIVERGED,
    REASONS,
    RUNNING,
    EpochConfig,
    epoch_config,
    initial_counters,
    jitted_epoch,
    jitted_evaluator,
    learning_rate_of,
)
from nets.training.inputs import (
    Loss,
    all_finite,
    apply_fn_of,
    as_split,
    check_data,
    positive_count,
    resolve_metric,
)
from nets.training.parallel import abstract, parallel_plan, place_run, replicate, to_host
from nets.training.results import DivergenceError, FitResult, History
from nets.training.resume import (
    check_settings,
    history_from,
    history_record,
    key_record,
    open_run,
    should_save,
)


def _prepare(model, loss, optimizer, train, val, *, batch_size, metric, max_steps, tol_params,
             tol_loss, drop_last, shuffle, sharding, mesh
             ) -> tuple[EpochConfig, Split, Split | None, str | None]:
    """Validate `fit`'s arguments and gather what its compiled functions depend on."""
    train = as_split(train, "train")
    val = as_split(val, "val")
    config, metric_name = epoch_config(
        model, loss, optimizer, train, batch_size=batch_size, metric=metric, drop_last=drop_last,
        shuffle=shuffle, max_steps=max_steps, tol_params=tol_params, tol_loss=tol_loss,
        parallel=parallel_plan(sharding, mesh, batch_size=batch_size),
    )
    return config, train, val, metric_name


def _evaluator(config: EpochConfig) -> Callable:
    return jitted_evaluator(config.apply_fn, config.loss_fn, config.metric_fn)


def compile_fit(
    model: Any,
    params: Any,
    loss: Loss,
    optimizer: Any,
    train: Split | tuple,
    *,
    batch_size: int,
    val: Split | tuple | None = None,
    metric: Callable | Literal["auto"] | None = "auto",
    max_steps: int | None = None,
    tol_params: float | None = None,
    tol_loss: float | None = None,
    drop_last: bool = True,
    shuffle: bool = True,
    sharding: str | None = None,
    mesh: Any = None,
) -> float:
    """Compile, without running, the epoch that `fit` with the same arguments will run;
    returns the seconds it took.

    A later `fit` with the same `model`, `loss` and `optimizer` objects reuses the program.
    XLA compiles without holding the GIL, so several optimizers can be compiled at once from
    a thread pool before fitting them one by one.
    """
    start = time.perf_counter()
    config, train, val, _ = _prepare(
        model, loss, optimizer, train, val, batch_size=batch_size, metric=metric,
        max_steps=max_steps, tol_params=tol_params, tol_loss=tol_loss, drop_last=drop_last,
        shuffle=shuffle, sharding=sharding, mesh=mesh,
    )
    plan = config.parallel
    opt_state = abstract(plan, jax.eval_shape(optimizer.init, abstract(None, params)))
    params = abstract(plan, params)
    counters = abstract(plan, jax.eval_shape(initial_counters), replicated=True)
    train, val = (None if s is None else abstract(plan, s, replicated=True) for s in (train, val))
    key = jax.eval_shape(lambda: jax.random.key(0))
    jitted_epoch(config).lower(params, opt_state, counters, key, train).compile()
    _evaluator(config).lower(params, train, val).compile()
    return time.perf_counter() - start


class _EarlyStopping:
    """The best validation loss so far, and whether `patience` epochs passed without beating
    it by more than `min_delta`; keeps a copy of the best params when asked to."""

    def __init__(self, patience: int | None, min_delta: float, keep_best: bool):
        self.patience, self.min_delta, self.keep_best = patience, min_delta, keep_best
        self.best_loss, self.best_epoch, self.best_params, self.waited = math.inf, None, None, 0

    def should_stop(self, epoch: int, val_loss: float, params: Any) -> bool:
        if val_loss < self.best_loss - self.min_delta:
            self.best_loss, self.best_epoch, self.waited = val_loss, epoch, 0
            if self.keep_best:
                self.best_params = jax.tree.map(jnp.copy, params)
            return False
        self.waited += 1
        return self.patience is not None and self.waited >= self.patience

    def record(self) -> dict[str, Any]:
        return {"best_loss": self.best_loss, "best_epoch": self.best_epoch, "waited": self.waited}

    def restore(self, record: dict[str, Any], best_params: Any) -> None:
        self.best_loss, self.best_epoch = float(record["best_loss"]), record["best_epoch"]
        self.waited, self.best_params = int(record["waited"]), best_params


def _empty_history(metric_name: str | None) -> History:
    return History(
        step_loss=np.zeros(0, np.float64),
        step_learning_rate=None,
        train_loss=[],
        train_metric=[],
        val_loss=[],
        val_metric=[],
        learning_rate=[],
        seconds=[],
        metric_name=metric_name,
    )


def _divergence(history, params, opt_state, steps, epoch, loss) -> DivergenceError:
    note = " (the params became non-finite)" if math.isfinite(loss) else ""
    return DivergenceError(
        f"training diverged at step {steps + 1} (epoch {epoch}): the loss is {loss}{note}; "
        f"error.params holds the params after step {steps}, the last finite ones. Lower the "
        "learning rate, or clip the gradients.",
        step=steps + 1, epoch=epoch, loss=loss, params=params, opt_state=opt_state,
        history=history,
    )


def fit(
    model: Any,
    params: Any,
    loss: Loss,
    optimizer: Any,
    train: Split | tuple,
    *,
    epochs: int,
    batch_size: int,
    key: jax.Array | None = None,
    val: Split | tuple | None = None,
    opt_state: Any = None,
    metric: Callable | Literal["auto"] | None = "auto",
    max_steps: int | None = None,
    tol_params: float | None = None,
    tol_loss: float | None = None,
    patience: int | None = None,
    min_delta: float = 0.0,
    restore_best: bool = True,
    drop_last: bool = True,
    shuffle: bool = True,
    progress: bool | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    checkpoint_every: int = 1,
    keep: int | None = 3,
    resume: bool = False,
    sharding: str | None = None,
    mesh: Any = None,
) -> FitResult:
    """Train `params` of `model` on `train` by minimizing `loss` with `optimizer`.

    `model` has `apply(params, x)` (or is that function); `loss(outputs, targets)` is a batch
    mean (see `nets.losses`); `optimizer` is any gradient transformation (`optim` or optax).
    Each of at most `epochs` epochs shuffles `train` with `fold_in(key, epoch)` and scans the
    step over its minibatches of `batch_size` (1 = SGD, `len(train)` = batch GD); `drop_last`
    skips the last incomplete batch. After each epoch the loss and `metric` (accuracy for
    integer labels by default) are evaluated on the training and validation splits.

    Stopping rules (see `nets/training/epoch.py`): `max_steps`, `tol_params`, `tol_loss`, and,
    with `val` and `patience`, early stopping that restores the best epoch's params
    (`restore_best`). `opt_state` continues a previous run (default: `optimizer.init`).
    `progress` shows a tqdm bar (default: only when stderr is a terminal).

    Checkpoints: with `checkpoint_dir`, the run's whole state is saved there (orbax, atomic)
    after every `checkpoint_every` epochs and after the last, keeping the latest `keep` (None:
    all). `resume=True` continues from the latest complete checkpoint (or starts afresh when
    there is none; `params` and `opt_state` are then only templates) and ends bit for bit
    where the uninterrupted run with the same arguments ends; a run that had finished returns
    its result, and a larger `epochs` extends it. Without `resume`, a `checkpoint_dir` that
    already holds checkpoints is refused (`FileExistsError`).

    Several devices (`nets/training/parallel.py`): `sharding="data"` splits every batch over
    the `data` axis of `mesh` (default: all devices, of every process) with params and state
    replicated; `"fsdp"` also splits each param and state leaf along its largest dimension the
    devices divide. `batch_size` must be a multiple of the device count.

    The caller's `params` are copied, not donated, and stay usable. Raises `DivergenceError`
    at the first step with a NaN or Inf loss or params, carrying the last finite params.
    """
    epochs = positive_count("epochs", epochs)
    patience = positive_count("patience", patience)
    config, train, val, metric_name = _prepare(
        model, loss, optimizer, train, val, batch_size=batch_size, metric=metric,
        max_steps=max_steps, tol_params=tol_params, tol_loss=tol_loss, drop_last=drop_last,
        shuffle=shuffle, sharding=sharding, mesh=mesh,
    )
    if patience is not None and val is None:
        raise ValueError("early stopping (patience) monitors the validation loss: pass val=")
    if not all_finite(params):
        raise ValueError("the initial params contain NaN or Inf")
    check_data(config.apply_fn, params, loss, {"train": train, "val": val})
    key = jax.random.key(0) if key is None else key
    run, every = open_run(checkpoint_dir, checkpoint_every=checkpoint_every, keep=keep,
                          resume=resume)
    epoch_fn, evaluate_fn = jitted_epoch(config), _evaluator(config)

    # Copies, because the epoch function donates (invalidates) what it is given; one buffer
    # per leaf, since a state may hold one array in two places (donated twice is an error).
    params = jax.tree.map(jnp.copy, params)
    opt_state = jax.tree.map(jnp.copy, optimizer.init(params) if opt_state is None else opt_state)
    params, opt_state, counters, (train, val) = place_run(
        config.parallel, params, opt_state, initial_counters(), (train, val))
    history = _empty_history(metric_name)
    has_lr = learning_rate_of(jax.eval_shape(optimizer.init, params)) is not None
    stopping = _EarlyStopping(patience, min_delta, restore_best and patience is not None)
    reason = REASONS[RUNNING]
    settings = {
        "key": key_record(key), "batch_size": config.batch_size, "drop_last": config.drop_last,
        "shuffle": config.shuffle, "max_steps": config.max_steps,
        "tol_params": config.tol_params, "tol_loss": config.tol_loss, "patience": patience,
        "min_delta": float(min_delta), "restore_best": bool(restore_best),
        "metric_name": metric_name, "train_size": len(train),
        "val_size": None if val is None else len(val),
    }
    epochs_run, steps_after, finished = 0, 0, False
    try:
        if run is not None and run.latest() is not None:
            state = {"params": params, "opt_state": opt_state, "counters": counters,
                     "best_params": params if stopping.keep_best else None}
            state, meta = run.restore(run.latest(), like=state,
                                      what="this call's params and optimizer state")
            check_settings(run, meta["settings"], settings)
            params, opt_state, counters = state["params"], state["opt_state"], state["counters"]
            stopping.restore(meta["stopping"], state["best_params"])
            history = history_from(meta["history"], metric_name)
            epochs_run, steps_after = int(meta["epochs_run"]), int(counters[0])
            reason, finished = meta["reason"], meta["reason"] != REASONS[RUNNING]
            if epochs_run > epochs:
                raise ValueError(f"resume=True: the checkpointed run has done {epochs_run} "
                                 f"epochs, more than epochs={epochs}")
        step_losses = [history.step_loss]
        step_lrs = [np.zeros(0) if history.step_learning_rate is None
                    else history.step_learning_rate]
        show = sys.stderr.isatty() if progress is None else bool(progress)
        bar = _progress_bar(epochs, show, num_batches(len(train), batch_size,
                                                      drop_last=drop_last), epochs_run)
        try:
            for epoch in range(epochs_run, epochs if not finished else epochs_run):
                start = time.perf_counter()
                steps_before = steps_after
                params, opt_state, counters, losses, lrs = epoch_fn(
                    params, opt_state, counters,
                    replicate(config.parallel, jax.random.fold_in(key, epoch)), train,
                )
                metrics = evaluate_fn(params, train, val)
                (steps_after, _, status), losses, lrs, metrics = to_host(
                    (counters, losses, lrs, metrics))
                steps_after, status = int(steps_after), int(status)
                history.seconds.append(time.perf_counter() - start)
                epochs_run = epoch + 1
                taken = steps_after - steps_before
                step_losses.append(np.asarray(losses[:taken], np.float64))
                step_lrs.append(np.asarray(lrs[:taken], np.float64))
                history.step_loss = np.concatenate(step_losses)
                history.step_learning_rate = np.concatenate(step_lrs) if has_lr else None
                if status == DIVERGED:
                    raise _divergence(history, params, opt_state, steps_after, epoch,
                                      float(losses[taken]))
                train_loss, train_metric, val_loss, val_metric = (float(m) for m in metrics)
                if val is not None and not math.isfinite(val_loss):
                    raise DivergenceError(
                        f"the validation loss is {val_loss} after epoch {epoch} (step "
                        f"{steps_after}), while the training steps were finite: the model "
                        "overflows on the validation inputs. error.params holds the params "
                        "after that epoch.",
                        step=steps_after, epoch=epoch, loss=val_loss, params=params,
                        opt_state=opt_state, history=history,
                    )
                history.train_loss.append(train_loss)
                history.train_metric.append(train_metric)
                history.val_loss.append(val_loss)
                history.val_metric.append(val_metric)
                history.learning_rate.append(
                    float(lrs[taken - 1]) if taken and has_lr else math.nan)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{train_loss:.4g}", val=f"{val_loss:.4g}")
                if status != RUNNING:
                    reason = REASONS[status]
                elif val is not None and stopping.should_stop(epoch, val_loss, params):
                    reason = "early_stopping"
                    if stopping.best_params is not None:
                        params = stopping.best_params
                done = reason != REASONS[RUNNING]
                if should_save(run, epochs_run, every, done or epochs_run == epochs):
                    run.save(epochs_run, {
                        "params": params, "opt_state": opt_state, "counters": counters,
                        "best_params": stopping.best_params if stopping.keep_best else None,
                    }, {
                        "epochs_run": epochs_run, "reason": reason, "settings": settings,
                        "stopping": stopping.record(), "history": history_record(history),
                    })
                if done:
                    break
        finally:
            if bar is not None:
                bar.close()
    finally:
        if run is not None:
            run.close()
    return FitResult(
        params=params,
        opt_state=opt_state,
        history=history,
        num_steps=steps_after,
        epochs_run=epochs_run,
        reason=reason,
        best_epoch=stopping.best_epoch,
    )


def _progress_bar(epochs: int, show: bool, steps_per_epoch: int, done: int = 0) -> Any:
    if not show:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=epochs, initial=done, unit="epoch",
                desc=f"fit ({steps_per_epoch} steps/epoch)")


def evaluate(
    model: Any, params: Any, loss: Loss, data: Split | tuple, *, metric: Any = "auto"
) -> dict[str, float]:
    """`{"loss": ..., "<metric>": ...}` of `params` on a whole split (jitted, no donation)."""
    split = as_split(data, "data")
    metric_fn, metric_name = resolve_metric(metric, split)
    check_data(apply_fn_of(model), params, loss, {"data": split})
    run = jitted_evaluator(apply_fn_of(model), loss, metric_fn)
    value, score, _, _ = jax.device_get(run(params, split, None))
    result = {"loss": float(value)}
    if metric_name is not None:
        result[metric_name] = float(score)
    return result
