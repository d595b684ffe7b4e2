"""Training: a jitted step, and `fit`, which runs each epoch as one compiled `lax.scan`.

    model = nets.MLP([64, 128, 10])
    result = nets.fit(model, model.init(key), nets.softmax_cross_entropy, optim.adam(1e-3),
                      data.train, val=data.val, epochs=20, batch_size=32, key=key)
    result.params, result.history.train_loss, result.reason

One step of the lectures' minibatch SGD, with any gradient transformation in place of the
plain `theta - alpha g`: `J, g = value_and_grad(J)(theta; batch)`, `u, s = tx.update(g, s,
theta)`, `theta = theta + u`. An epoch draws a fresh permutation, cuts it into minibatches and
scans the step over them, so one epoch is one dispatch to the device, not one per step; the
epoch function is compiled once (on the first epoch) and reused, with the params and the
optimizer state donated so their buffers are updated in place.

Stopping rules (the lectures'), checked after every step inside the scan, so they fire at the
exact step even in the middle of an epoch; once one fires the remaining steps of the epoch are
no-ops and `fit` returns:

- `max_steps`: stop after that many updates;
- `tol_params`: stop after the first step whose update is small, `||theta_t - theta_{t-1}|| <
  tol_params` (the global l2 norm over all params);
- `tol_loss`: stop after the first step whose loss changed little, `|J_t - J_{t-1}| < tol_loss`,
  where `J_t` is the loss of step t's minibatch at the params before step t (with the whole
  set as the batch it is the training loss itself; with minibatches it is noisy, as the
  lectures warn);
- early stopping on the validation loss, checked after each epoch: stop when it has not
  improved by more than `min_delta` for `patience` epochs, and (with `restore_best`) return
  the params of the best epoch.

Divergence: a step whose loss, or whose new params, are NaN or Inf is not applied; the run
stops at once and `fit` raises `DivergenceError` naming the step, with the last finite params
in `error.params`. NaN params are never returned.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import sys
import time
from collections.abc import Callable
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import optim
from nets import losses as losses_lib
from nets.data import Split, epoch_batches, num_batches


Apply = Callable[[Any, jax.Array], jax.Array]
Loss = Callable[[jax.Array, jax.Array], jax.Array]

# Status codes carried through the scan; 0 means still running.
RUNNING, DIVERGED, TOL_PARAMS, TOL_LOSS, MAX_STEPS = 0, 1, 2, 3, 4
_REASONS = {
    RUNNING: "epochs",
    DIVERGED: "diverged",
    TOL_PARAMS: "tol_params",
    TOL_LOSS: "tol_loss",
    MAX_STEPS: "max_steps",
}


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


class _Config(NamedTuple):
    """Everything static about an epoch function: what it is compiled for."""

    apply_fn: Apply
    loss_fn: Loss
    metric_fn: Callable | None
    optimizer: Any
    batch_size: int
    drop_last: bool
    shuffle: bool
    max_steps: int | None
    tol_params: float | None
    tol_loss: float | None


def _apply_fn(model: Any) -> Apply:
    if hasattr(model, "apply") and callable(model.apply):
        return model.apply
    if callable(model):
        return model
    raise TypeError(f"model must have an apply(params, x) method or be callable, got {model!r}")


def _learning_rate(state: Any) -> Any:
    """The one `learning_rate` field of an optimizer state, or None."""
    try:
        return optim.get_field(state, "learning_rate", None)
    except KeyError:  # several: ambiguous, so not reported
        return None


def make_objective(model: Any, loss: Loss) -> Callable[[Any, jax.Array, jax.Array], jax.Array]:
    """`J(params, x, y) = loss(model.apply(params, x), y)`."""
    apply_fn = _apply_fn(model)

    def objective(params, x, y):
        return loss(apply_fn(params, x), y)

    return objective


def _update(optimizer, objective, params, state, x, y):
    """One step: loss, gradients, transformed updates, new params and state."""
    value, grads = jax.value_and_grad(objective)(params, x, y)
    extra = {"value": value, "grad": grads, "value_fn": lambda p: objective(p, x, y)}
    updates, new_state = optim.with_extra_args_support(optimizer).update(
        grads, state, params, **extra
    )
    return value, optim.apply_updates(params, updates), new_state


def make_train_step(model: Any, loss: Loss, optimizer: Any, *, donate: bool = True) -> Callable:
    """A jitted `step(params, opt_state, x, y) -> (params, opt_state, loss)`.

    With `donate=True` the params and state passed in are donated (their buffers reused for
    the outputs): do not use them after the call. For a hand-written loop; `fit` scans the
    same step over whole epochs.
    """
    objective = make_objective(model, loss)

    def step(params, opt_state, x, y):
        value, params, opt_state = _update(optimizer, objective, params, opt_state, x, y)
        return params, opt_state, value

    return jax.jit(step, donate_argnums=(0, 1) if donate else ())


def _default_float() -> Any:
    return jnp.result_type(float)


def build_epoch(config: _Config) -> Callable:
    """The pure (unjitted) epoch function for `config`.

    `epoch(params, opt_state, counters, key, train) -> (params, opt_state, counters,
    step_losses, step_lrs)`, where `counters = (step, previous loss, status)` carry the
    stopping rules' memory from step to step and epoch to epoch. `fit` jits it with donation;
    `nets.sweep` vmaps it.
    """
    objective = make_objective(config.apply_fn, config.loss_fn)
    optimizer = config.optimizer

    def step(carry, batch):
        params, state, (t, previous, status) = carry
        float_dtype = previous.dtype
        x, y = batch
        value, new_params, new_state = _update(optimizer, objective, params, state, x, y)
        value = value.astype(float_dtype)
        finite = jnp.isfinite(value) & optim.tree_all_finite(new_params)
        t_next = t + 1
        # Later rules take precedence below: divergence over convergence over max_steps.
        new_status = jnp.asarray(RUNNING, jnp.int32)
        if config.max_steps is not None:
            new_status = jnp.where(t_next >= config.max_steps, MAX_STEPS, new_status)
        if config.tol_loss is not None:
            small = jnp.abs(value - previous) < config.tol_loss  # False while previous is NaN
            new_status = jnp.where(small, TOL_LOSS, new_status)
        if config.tol_params is not None:
            moved = optim.tree_global_norm(optim.tree_sub(new_params, params))
            new_status = jnp.where(moved < config.tol_params, TOL_PARAMS, new_status)
        new_status = jnp.where(finite, new_status, DIVERGED)
        running = status == RUNNING
        take = running & finite
        params = optim.tree_where(take, new_params, params)
        state = optim.tree_where(take, new_state, state)
        counters = (
            jnp.where(take, t_next, t),
            jnp.where(take, value, previous),
            jnp.where(running, new_status, status).astype(jnp.int32),
        )
        # The failed step's loss is reported (DivergenceError needs it); skipped steps give NaN.
        shown = jnp.where(running, value, jnp.nan)
        lr = _learning_rate(new_state)
        lr = jnp.nan if lr is None else jnp.asarray(lr, float_dtype)
        return (params, state, counters), (shown, jnp.asarray(lr, float_dtype))

    def epoch(params, opt_state, counters, key, train):
        full, rest = epoch_batches(
            key, train.x, train.y, config.batch_size, shuffle=config.shuffle
        )
        carry = (params, opt_state, counters)
        carry, (step_losses, step_lrs) = jax.lax.scan(step, carry, (full.x, full.y))
        if not config.drop_last and rest.x.shape[0] > 0:
            carry, (last_loss, last_lr) = step(carry, (rest.x, rest.y))
            step_losses = jnp.concatenate([step_losses, last_loss[None]])
            step_lrs = jnp.concatenate([step_lrs, last_lr[None]])
        params, opt_state, counters = carry
        return params, opt_state, counters, step_losses, step_lrs

    return epoch


def build_evaluator(apply_fn: Apply, loss_fn: Loss, metric_fn: Callable | None) -> Callable:
    """The pure `evaluate(params, train, val) -> (train loss, train metric, val loss, val
    metric)` on whole splits (NaN for a missing split or metric), in one forward pass."""
    def scores(outputs, y):
        float_dtype = _default_float()  # at trace time: float64 under x64
        value = loss_fn(outputs, y).astype(float_dtype)
        metric = jnp.nan if metric_fn is None else metric_fn(outputs, y)
        return value, jnp.asarray(metric, float_dtype)

    def evaluate(params, train, val):
        nan = jnp.asarray(jnp.nan, _default_float())
        if val is None:
            return (*scores(apply_fn(params, train.x), train.y), nan, nan)
        # One forward pass over both splits: one matmul chain to compile, not two.
        outputs = apply_fn(params, jnp.concatenate([train.x, val.x]))
        n = train.x.shape[0]
        return (*scores(outputs[:n], train.y), *scores(outputs[n:], val.y))

    return evaluate


@functools.lru_cache(maxsize=32)
def _jitted_evaluator(apply_fn: Apply, loss_fn: Loss, metric_fn: Callable | None) -> Callable:
    # Shared by every fit of the same model and loss: compiled once, whatever the optimizer.
    return jax.jit(build_evaluator(apply_fn, loss_fn, metric_fn))


def initial_counters() -> tuple[jax.Array, jax.Array, jax.Array]:
    """`(step 0, previous loss NaN, status RUNNING)`: the counters of a fresh run."""
    return (
        jnp.zeros((), jnp.int32),
        jnp.asarray(jnp.nan, _default_float()),
        jnp.asarray(RUNNING, jnp.int32),
    )


@functools.lru_cache(maxsize=32)
def _jitted_epoch_cached(config: _Config) -> Callable:
    return jax.jit(build_epoch(config), donate_argnums=(0, 1))


def _jitted_epoch(config: _Config) -> Callable:
    """The compiled epoch for `config`; fits with the same model, loss and optimizer objects
    share it (so a second `fit` does not compile again)."""
    try:
        return _jitted_epoch_cached(config)
    except TypeError:  # an unhashable piece (a lambda in a list, say): compile for this fit
        return jax.jit(build_epoch(config), donate_argnums=(0, 1))


def _as_split(data: Any, name: str) -> Split | None:
    if data is None:
        return None
    if isinstance(data, Split):
        return data
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return Split(jnp.asarray(data[0]), jnp.asarray(data[1]))
    raise TypeError(f"{name} must be a Split or an (x, y) pair, got {type(data).__name__}")


def _resolve_metric(metric: Any, split: Split) -> tuple[Callable | None, str | None]:
    if metric == "auto":
        labels = split.y.dtype
        if jnp.issubdtype(labels, jnp.integer) or labels == jnp.bool_:
            return losses_lib.accuracy, "accuracy"
        return None, None
    if metric is None:
        return None, None
    return metric, getattr(metric, "__name__", "metric")


def _check_positive(name: str, value: Any, *, integer: bool = False) -> None:
    if value is None:
        return
    bad = (not isinstance(value, (int, np.integer)) or isinstance(value, bool)) if integer else (
        not isinstance(value, (int, float, np.number)) or math.isnan(value)
    )
    if bad or value <= 0:
        kind = "a positive integer" if integer else "a positive number"
        raise ValueError(f"{name} must be {kind}, got {value!r}")


def _prepare(model, loss, optimizer, train, val, *, batch_size, metric, max_steps, tol_params,
             tol_loss, drop_last, shuffle) -> tuple[_Config, Split, Split | None, str | None]:
    """Validate `fit`'s arguments and gather what its compiled functions depend on."""
    _check_positive("max_steps", max_steps, integer=True)
    _check_positive("tol_params", tol_params)
    _check_positive("tol_loss", tol_loss)
    train = _as_split(train, "train")
    val = _as_split(val, "val")
    num_batches(len(train), batch_size, drop_last=drop_last)  # validates batch_size
    metric_fn, metric_name = _resolve_metric(metric, train)
    config = _Config(
        apply_fn=_apply_fn(model),
        loss_fn=loss,
        metric_fn=metric_fn,
        optimizer=optimizer,
        batch_size=int(batch_size),
        drop_last=bool(drop_last),
        shuffle=bool(shuffle),
        max_steps=None if max_steps is None else int(max_steps),
        tol_params=None if tol_params is None else float(tol_params),
        tol_loss=None if tol_loss is None else float(tol_loss),
    )
    return config, train, val, metric_name


def _jitted_evaluator_for(config: _Config) -> Callable:
    try:
        return _jitted_evaluator(config.apply_fn, config.loss_fn, config.metric_fn)
    except TypeError:
        return jax.jit(build_evaluator(config.apply_fn, config.loss_fn, config.metric_fn))


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
) -> float:
    """Compile, without running, the epoch that `fit` with the same arguments will run;
    returns the seconds it took.

    A later `fit` with the same `model`, `loss` and `optimizer` objects reuses the program.
    XLA compiles without holding the GIL, so several optimizers can be compiled at once from
    a thread pool (`nets.compare` does) before fitting them one by one.
    """
    start = time.perf_counter()
    config, train, val, _ = _prepare(
        model, loss, optimizer, train, val, batch_size=batch_size, metric=metric,
        max_steps=max_steps, tol_params=tol_params, tol_loss=tol_loss, drop_last=drop_last,
        shuffle=shuffle,
    )
    shaped = lambda tree: jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), tree)
    params = shaped(params)
    opt_state = jax.eval_shape(optimizer.init, params)
    counters = shaped(jax.eval_shape(initial_counters))
    key = jax.eval_shape(lambda: jax.random.key(0))
    _jitted_epoch(config).lower(params, opt_state, counters, key, train).compile()
    _jitted_evaluator_for(config).lower(params, train, val).compile()
    return time.perf_counter() - start


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
) -> FitResult:
    """Train `params` of `model` on `train` by minimizing `loss` with `optimizer`.

    `model` has `apply(params, x)` (or is that function); `loss(outputs, targets)` is a batch
    mean (see `nets.losses`); `optimizer` is any gradient transformation (`optim` or optax).
    Each of at most `epochs` epochs shuffles `train` with `fold_in(key, epoch)` and scans the
    step over its minibatches of `batch_size` (1 = SGD, `len(train)` = batch GD); `drop_last`
    skips the last incomplete batch. After each epoch the loss and `metric` (accuracy for
    integer labels by default) are evaluated on the training and validation splits.

    Stopping rules (see the module docstring): `max_steps`, `tol_params`, `tol_loss`, and,
    with `val` and `patience`, early stopping that restores the best epoch's params
    (`restore_best`). `opt_state` continues a previous run (default: `optimizer.init`).
    `progress` shows a tqdm bar (default: only when stderr is a terminal).

    The caller's `params` are copied, not donated, and stay usable. Raises `DivergenceError`
    at the first step with a NaN or Inf loss or params, carrying the last finite params.
    """
    _check_positive("epochs", epochs, integer=True)
    _check_positive("patience", patience, integer=True)
    config, train, val, metric_name = _prepare(
        model, loss, optimizer, train, val, batch_size=batch_size, metric=metric,
        max_steps=max_steps, tol_params=tol_params, tol_loss=tol_loss, drop_last=drop_last,
        shuffle=shuffle,
    )
    if patience is not None and val is None:
        raise ValueError("early stopping (patience) monitors the validation loss: pass val=")
    steps_per_epoch = num_batches(len(train), batch_size, drop_last=drop_last)
    # On the host: a jitted check would compile for every new params structure.
    if not all(np.isfinite(np.asarray(leaf, np.float64)).all() for leaf in jax.tree.leaves(params)):
        raise ValueError("the initial params contain NaN or Inf")
    key = jax.random.key(0) if key is None else key
    epoch_fn = _jitted_epoch(config)
    evaluate_fn = _jitted_evaluator_for(config)

    # Copies, because the epoch function donates (invalidates) what it is given; one buffer
    # per leaf, since a state may hold one array in two places (donated twice is an error).
    params = jax.tree.map(jnp.copy, params)
    opt_state = jax.tree.map(jnp.copy, optimizer.init(params) if opt_state is None else opt_state)
    counters = initial_counters()
    history = History(
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
    step_losses: list[np.ndarray] = []
    step_lrs: list[np.ndarray] = []
    has_lr = _learning_rate(jax.eval_shape(optimizer.init, params)) is not None
    best_loss, best_epoch, best_params, waited = math.inf, None, None, 0
    reason = _REASONS[RUNNING]
    show = sys.stderr.isatty() if progress is None else bool(progress)
    bar = _progress_bar(epochs, show, steps_per_epoch)
    epochs_run, steps_after = 0, 0
    try:
        for epoch in range(epochs):
            start = time.perf_counter()
            steps_before = steps_after
            params, opt_state, counters, losses, lrs = epoch_fn(
                params, opt_state, counters, jax.random.fold_in(key, epoch), train
            )
            metrics = evaluate_fn(params, train, val)
            (steps_after, _, status), losses, lrs, metrics = jax.device_get(
                (counters, losses, lrs, metrics)
            )
            steps_after, status = int(steps_after), int(status)
            history.seconds.append(time.perf_counter() - start)
            epochs_run = epoch + 1
            taken = steps_after - steps_before
            step_losses.append(np.asarray(losses[:taken], np.float64))
            step_lrs.append(np.asarray(lrs[:taken], np.float64))
            history.step_loss = np.concatenate(step_losses)
            history.step_learning_rate = np.concatenate(step_lrs) if has_lr else None
            if status == DIVERGED:
                bad = float(losses[taken])
                raise DivergenceError(
                    f"training diverged at step {steps_after + 1} (epoch {epoch}): the loss is "
                    f"{bad}{' (the params became non-finite)' if math.isfinite(bad) else ''}; "
                    f"error.params holds the params after step {steps_after}, the last finite "
                    "ones. Lower the learning rate, or clip the gradients.",
                    step=steps_after + 1,
                    epoch=epoch,
                    loss=bad,
                    params=params,
                    opt_state=opt_state,
                    history=history,
                )
            train_loss, train_metric, val_loss, val_metric = (float(m) for m in metrics)
            history.train_loss.append(train_loss)
            history.train_metric.append(train_metric)
            history.val_loss.append(val_loss)
            history.val_metric.append(val_metric)
            history.learning_rate.append(float(lrs[taken - 1]) if taken and has_lr else math.nan)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{train_loss:.4g}", val=f"{val_loss:.4g}")
            if status != RUNNING:
                reason = _REASONS[status]
                break
            if val is not None:
                if val_loss < best_loss - min_delta:
                    best_loss, best_epoch, waited = val_loss, epoch, 0
                    if restore_best and patience is not None:
                        best_params = jax.tree.map(jnp.copy, params)
                else:
                    waited += 1
                    if patience is not None and waited >= patience:
                        reason = "early_stopping"
                        if restore_best and best_params is not None:
                            params = best_params
                        break
    finally:
        if bar is not None:
            bar.close()
    return FitResult(
        params=params,
        opt_state=opt_state,
        history=history,
        num_steps=steps_after,
        epochs_run=epochs_run,
        reason=reason,
        best_epoch=best_epoch,
    )


def _progress_bar(epochs: int, show: bool, steps_per_epoch: int) -> Any:
    if not show:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=epochs, unit="epoch", desc=f"fit ({steps_per_epoch} steps/epoch)")


def evaluate(
    model: Any, params: Any, loss: Loss, data: Split | tuple, *, metric: Any = "auto"
) -> dict[str, float]:
    """`{"loss": ..., "<metric>": ...}` of `params` on a whole split (jitted, no donation)."""
    split = _as_split(data, "data")
    metric_fn, metric_name = _resolve_metric(metric, split)
    apply_fn = _apply_fn(model)
    try:
        run = _jitted_evaluator(apply_fn, loss, metric_fn)
    except TypeError:
        run = jax.jit(build_evaluator(apply_fn, loss, metric_fn))
    value, score, _, _ = jax.device_get(run(params, split, None))
    result = {"loss": float(value)}
    if metric_name is not None:
        result[metric_name] = float(score)
    return result
