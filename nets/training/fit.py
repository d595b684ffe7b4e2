"""`fit`: train a model, one compiled `lax.scan` per epoch, with the lectures' stopping rules.

    model = nets.MLP([64, 128, 10])
    result = nets.fit(model, model.init(key), nets.softmax_cross_entropy, optim.adam(1e-3),
                      data.train, val=data.val, epochs=20, batch_size=32, key=key)
    result.params, result.history.train_loss, result.reason

The epoch (`epoch.py`) is compiled once, before the first epoch, and reused, with the params
and the optimizer state donated so their buffers are updated in place. Around it, on the host:
the history, early stopping on the validation loss (stop when it has not improved by more than
`min_delta` for `patience` epochs; with `restore_best` return the best epoch's params), the
callbacks (`callbacks.py`), the progress display (`progress.py`), and divergence: the first
NaN or Inf loss or params raises `DivergenceError` naming the step, with the last finite
params in `error.params`.

With `checkpoint_dir`, the whole state of the run (params, optimizer state, step counters,
early-stopping memory and best params, history) is checkpointed every `checkpoint_every`
epochs and at the end (`nets/training/resume.py`); `resume=True` continues from the latest
complete checkpoint. Epoch `e` always shuffles with `fold_in(key, e)` and the step counters
are restored, so a resumed run ends bit for bit where the uninterrupted one ends.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np

from nets.data import Split, num_batches
from nets.training.callbacks import Callbacks, EpochMetrics, Patience, TrainingStart
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
from nets.training.progress import Progress
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


def _divergence(history, params, opt_state, steps, epoch, loss) -> DivergenceError:
    note = " (the params became non-finite)" if math.isfinite(loss) else ""
    return DivergenceError(
        f"training diverged at step {steps + 1} (epoch {epoch}): the loss is {loss}{note}; "
        f"error.params holds the params after step {steps}, the last finite ones. Lower the "
        "learning rate, or clip the gradients.",
        step=steps + 1, epoch=epoch, loss=loss, params=params, opt_state=opt_state,
        history=history,
    )


def _compile(epoch_fn: Callable, evaluate_fn: Callable, args: tuple, train, val) -> None:
    """Compile the epoch and the evaluation for these arguments (a cache hit when compiled
    already), so the first epoch's time and the progress bar's rate exclude compilation."""
    epoch_fn.lower(*args, train).compile()
    evaluate_fn.lower(args[0], train, val).compile()


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
    callbacks: Any = None,
    progress: Any = None,
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

    `callbacks`: functions `f(metrics)` of each epoch's `nets.EpochMetrics`, or
    `nets.Callback` objects (step hooks every k steps, begin and end hooks), called on the
    host after each epoch; one returning True or raising `nets.StopTraining` ends the run
    after that epoch (`result.reason`, `result.stopped_by`). See `nets/training/callbacks.py`;
    `nets.MetricLogger`, `nets.TensorBoardLogger`, `nets.EarlyStopping` are built in.

    `progress`: True shows a "compiling" line, then a tqdm bar of the epochs (`tqdm.auto`: a
    widget in a notebook) whose rate and ETA count compiled epochs only, with the last train
    and validation losses; a file-like object gets the same as text; False shows nothing;
    None (default) shows it when stderr is a terminal.

    Checkpoints: with `checkpoint_dir`, the run's whole state is saved there (orbax, atomic)
    after every `checkpoint_every` epochs and after the last, keeping the latest `keep` (None:
    all). `resume=True` continues from the latest complete checkpoint (or starts afresh when
    there is none; `params` and `opt_state` are then only templates) and ends bit for bit
    where the uninterrupted run with the same arguments ends; a run that had finished returns
    its result, and a larger `epochs` extends it. Without `resume`, a `checkpoint_dir` that
    already holds checkpoints is refused (`FileExistsError`). Callbacks' `state_dict()` is
    checkpointed too.

    Several devices (`nets/training/parallel.py`): `sharding="data"` splits every batch over
    the `data` axis of `mesh` (default: all devices, of every process) with params and state
    replicated; `"fsdp"` also splits each param and state leaf along its largest dimension the
    devices divide. `batch_size` must be a multiple of the device count.

    The caller's `params` are copied, not donated, and stay usable. Raises `DivergenceError`
    at the first step with a NaN or Inf loss or params, carrying the last finite params.
    """
    epochs = positive_count("epochs", epochs)
    patience = positive_count("patience", patience)
    callbacks = Callbacks(callbacks)
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
    steps_per_epoch = num_batches(len(train), batch_size, drop_last=drop_last)
    progress_shown = Progress(progress, epochs=epochs, done=0, steps_per_epoch=steps_per_epoch)
    run, every = open_run(checkpoint_dir, checkpoint_every=checkpoint_every, keep=keep,
                          resume=resume)
    epoch_fn, evaluate_fn = jitted_epoch(config), _evaluator(config)

    # Copies, because the epoch function donates (invalidates) what it is given; one buffer
    # per leaf, since a state may hold one array in two places (donated twice is an error).
    params = jax.tree.map(jnp.copy, params)
    opt_state = jax.tree.map(jnp.copy, optimizer.init(params) if opt_state is None else opt_state)
    params, opt_state, counters, (train, val) = place_run(
        config.parallel, params, opt_state, initial_counters(), (train, val))
    history = History.empty(metric_name)
    has_lr = learning_rate_of(jax.eval_shape(optimizer.init, params)) is not None
    stopping = Patience(patience, min_delta)
    keep_best = restore_best and patience is not None
    best_params = None
    reason, stopped_by = REASONS[RUNNING], None
    settings = {
        "key": key_record(key), "batch_size": config.batch_size, "drop_last": config.drop_last,
        "shuffle": config.shuffle, "max_steps": config.max_steps,
        "tol_params": config.tol_params, "tol_loss": config.tol_loss, "patience": patience,
        "min_delta": float(min_delta), "restore_best": bool(restore_best),
        "metric_name": metric_name, "train_size": len(train),
        "val_size": None if val is None else len(val),
    }
    epochs_run, steps_after, finished, result = 0, 0, False, None
    try:
        if run is not None and run.latest() is not None:
            state = {"params": params, "opt_state": opt_state, "counters": counters,
                     "best_params": params if keep_best else None}
            state, meta = run.restore(run.latest(), like=state,
                                      what="this call's params and optimizer state")
            check_settings(run, meta["settings"], settings)
            params, opt_state, counters = state["params"], state["opt_state"], state["counters"]
            stopping.restore(meta["stopping"])
            best_params = state["best_params"]
            history = history_from(meta["history"], metric_name)
            epochs_run, steps_after = int(meta["epochs_run"]), int(counters[0])
            reason, finished = meta["reason"], meta["reason"] != REASONS[RUNNING]
            stopped_by = meta.get("stopped_by")
            callbacks.restore(meta.get("callbacks"))
            if epochs_run > epochs:
                raise ValueError(f"resume=True: the checkpointed run has done {epochs_run} "
                                 f"epochs, more than epochs={epochs}")
        callbacks.begin(TrainingStart(
            epochs_done=epochs_run, steps_done=steps_after, history=history, epochs=epochs,
            steps_per_epoch=steps_per_epoch, has_val=val is not None))
        step_losses = [history.step_loss]
        step_lrs = [np.zeros(0) if history.step_learning_rate is None
                    else history.step_learning_rate]
        progress_shown.done = epochs_run
        try:
            if epochs_run < epochs and not finished:
                progress_shown.compiling()
                _compile(epoch_fn, evaluate_fn, (params, opt_state, counters, replicate(
                    config.parallel, jax.random.fold_in(key, epochs_run))), train, val)
                history.compile_seconds = progress_shown.compiled()
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
                progress_shown.epoch(train_loss, val_loss)
                if status != RUNNING:
                    reason = REASONS[status]
                elif val is not None:
                    if stopping.improved(epoch, val_loss) and keep_best:
                        best_params = jax.tree.map(jnp.copy, params)
                    if stopping.exhausted:
                        reason = "early_stopping"
                        if best_params is not None:
                            params = best_params
                asked = callbacks.epoch_end(EpochMetrics(
                    epoch=epoch, step=steps_after, train_loss=train_loss,
                    train_metric=train_metric, val_loss=val_loss, val_metric=val_metric,
                    learning_rate=history.learning_rate[-1], seconds=history.seconds[-1],
                    metric_name=metric_name), history, steps_before)
                if asked and reason == REASONS[RUNNING]:
                    reason, stopped_by = callbacks.reason, callbacks.stopped_by
                done = reason != REASONS[RUNNING]
                if should_save(run, epochs_run, every, done or epochs_run == epochs):
                    run.save(epochs_run, {
                        "params": params, "opt_state": opt_state, "counters": counters,
                        "best_params": best_params if keep_best else None,
                    }, {
                        "epochs_run": epochs_run, "reason": reason, "settings": settings,
                        "stopping": stopping.record(), "history": history_record(history),
                        "stopped_by": stopped_by, "callbacks": callbacks.states(),
                    })
                if done:
                    break
        finally:
            progress_shown.close()
        result = FitResult(
            params=params,
            opt_state=opt_state,
            history=history,
            num_steps=steps_after,
            epochs_run=epochs_run,
            reason=reason,
            best_epoch=stopping.best_epoch,
            stopped_by=stopped_by,
        )
    finally:
        try:
            callbacks.end(result)
        finally:
            if run is not None:
                run.close()
    return result


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
