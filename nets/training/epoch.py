"""The compiled epoch that `fit` runs and `sweep` vmaps: shuffle, scan the step, evaluate.

An epoch draws a fresh permutation, cuts it into minibatches and scans the step over them, so
one epoch is one dispatch to the device, not one per step. The lectures' stopping rules are
checked after every step inside the scan, so they fire at the exact step even in the middle of
an epoch; once one fires the remaining steps of the epoch are no-ops:

- `max_steps`: stop after that many updates;
- `tol_params`: stop after the first step whose update is small, `||theta_t - theta_{t-1}|| <
  tol_params` (the global l2 norm over all params);
- `tol_loss`: stop after the first step whose loss changed little, `|J_t - J_{t-1}| < tol_loss`,
  where `J_t` is the loss of step t's minibatch at the params before step t (with the whole
  set as the batch it is the training loss itself; with minibatches it is noisy, as the
  lectures warn).

A step whose loss, or whose new params, are NaN or Inf is not applied and ends the run with the
status `DIVERGED`; NaN params are never kept.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

import optim
from _descent.dtypes import default_float
from nets.data import Split, epoch_batches, num_batches
from nets.training.inputs import (
    Apply,
    Loss,
    apply_fn_of,
    positive_count,
    positive_number,
    resolve_metric,
)
from nets.training.step import make_objective, update_step

# Status codes carried through the scan; 0 means still running.
RUNNING, DIVERGED, TOL_PARAMS, TOL_LOSS, MAX_STEPS = 0, 1, 2, 3, 4
REASONS = {
    RUNNING: "epochs",
    DIVERGED: "diverged",
    TOL_PARAMS: "tol_params",
    TOL_LOSS: "tol_loss",
    MAX_STEPS: "max_steps",
}


class EpochConfig(NamedTuple):
    """Everything static about an epoch function: what it is compiled for."""

    apply_fn: Apply
    loss_fn: Loss
    metric_fn: Callable | None
    optimizer: Any
    batch_size: int
    drop_last: bool
    shuffle: bool
    max_steps: int | None = None
    tol_params: float | None = None
    tol_loss: float | None = None
    parallel: Any = None  # a `nets.training.parallel.Parallel` plan, or None for one device


def epoch_config(model: Any, loss: Loss, optimizer: Any, train: Split, *, batch_size: int,
                 metric: Any, drop_last: bool, shuffle: bool, max_steps: Any = None,
                 tol_params: Any = None, tol_loss: Any = None,
                 parallel: Any = None) -> tuple[EpochConfig, str | None]:
    """The checked `EpochConfig` of a loop over `train` (`fit`'s and `sweep`'s), and the
    metric's name."""
    num_batches(len(train), batch_size, drop_last=drop_last)  # validates batch_size
    metric_fn, metric_name = resolve_metric(metric, train)
    config = EpochConfig(
        apply_fn=apply_fn_of(model),
        loss_fn=loss,
        metric_fn=metric_fn,
        optimizer=optimizer,
        batch_size=int(batch_size),
        drop_last=bool(drop_last),
        shuffle=bool(shuffle),
        max_steps=positive_count("max_steps", max_steps),
        tol_params=positive_number("tol_params", tol_params),
        tol_loss=positive_number("tol_loss", tol_loss),
        parallel=parallel,
    )
    return config, metric_name


def learning_rate_of(state: Any) -> Any:
    """The one `learning_rate` field of an optimizer state, or None (none, or several)."""
    try:
        return optim.get_field(state, "learning_rate", None)
    except KeyError:  # several: ambiguous, so not reported
        return None


def initial_counters() -> tuple[jax.Array, jax.Array, jax.Array]:
    """`(step 0, previous loss NaN, status RUNNING)`: the counters of a fresh run."""
    return (
        jnp.zeros((), jnp.int32),
        jnp.asarray(jnp.nan, default_float()),
        jnp.asarray(RUNNING, jnp.int32),
    )


def _status_after(config: EpochConfig, t_next, value, previous, params, new_params, finite):
    """The status a step leaves: divergence over convergence over max_steps."""
    status = jnp.asarray(RUNNING, jnp.int32)
    if config.max_steps is not None:
        status = jnp.where(t_next >= config.max_steps, MAX_STEPS, status)
    if config.tol_loss is not None:
        small = jnp.abs(value - previous) < config.tol_loss  # False while previous is NaN
        status = jnp.where(small, TOL_LOSS, status)
    if config.tol_params is not None:
        moved = optim.tree_global_norm(optim.tree_sub(new_params, params))
        status = jnp.where(moved < config.tol_params, TOL_PARAMS, status)
    return jnp.where(finite, status, DIVERGED)


def build_epoch(config: EpochConfig) -> Callable:
    """The pure (unjitted) epoch function for `config`.

    `epoch(params, opt_state, counters, key, train) -> (params, opt_state, counters,
    step_losses, step_lrs)`, where `counters = (step, previous loss, status)` carry the
    stopping rules' memory from step to step and epoch to epoch. `fit` jits it with donation;
    `nets.sweep` vmaps it.
    """
    objective = make_objective(config.apply_fn, config.loss_fn)
    parallel = config.parallel

    def step(carry, batch, split=True):
        params, state, (t, previous, status) = carry
        float_dtype = previous.dtype
        if parallel is not None and split:  # the last, smaller batch is computed whole
            batch = parallel.constrain_batch(batch)
        value, new_params, new_state = update_step(config.optimizer, objective, params, state,
                                                   *batch)
        if parallel is not None:
            new_params, new_state = parallel.constrain((new_params, new_state))
        value = value.astype(float_dtype)
        finite = jnp.isfinite(value) & optim.tree_all_finite(new_params)
        t_next = t + 1
        new_status = _status_after(config, t_next, value, previous, params, new_params, finite)
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
        lr = learning_rate_of(new_state)
        lr = jnp.nan if lr is None else jnp.asarray(lr, float_dtype)
        return (params, state, counters), (shown, jnp.asarray(lr, float_dtype))

    def epoch(params, opt_state, counters, key, train):
        full, rest = epoch_batches(
            key, train.x, train.y, config.batch_size, shuffle=config.shuffle
        )
        carry = (params, opt_state, counters)
        carry, (step_losses, step_lrs) = jax.lax.scan(step, carry, (full.x, full.y))
        if not config.drop_last and rest.x.shape[0] > 0:
            carry, (last_loss, last_lr) = step(carry, (rest.x, rest.y), split=False)
            step_losses = jnp.concatenate([step_losses, last_loss[None]])
            step_lrs = jnp.concatenate([step_lrs, last_lr[None]])
        params, opt_state, counters = carry
        return params, opt_state, counters, step_losses, step_lrs

    return epoch


def build_evaluator(apply_fn: Apply, loss_fn: Loss, metric_fn: Callable | None) -> Callable:
    """The pure `evaluate(params, train, val) -> (train loss, train metric, val loss, val
    metric)` on whole splits (NaN for a missing split or metric), in one forward pass."""

    def scores(outputs, y):
        float_dtype = default_float()  # at trace time: float64 under x64
        value = loss_fn(outputs, y).astype(float_dtype)
        metric = jnp.nan if metric_fn is None else metric_fn(outputs, y)
        return value, jnp.asarray(metric, float_dtype)

    def evaluate(params, train, val):
        nan = jnp.asarray(jnp.nan, default_float())
        if val is None:
            return (*scores(apply_fn(params, train.x), train.y), nan, nan)
        # One forward pass over both splits: one matmul chain to compile, not two.
        outputs = apply_fn(params, jnp.concatenate([train.x, val.x]))
        n = train.x.shape[0]
        return (*scores(outputs[:n], train.y), *scores(outputs[n:], val.y))

    return evaluate


def cached(compile_fn: Callable) -> Callable:
    """`compile_fn` memoized on its (hashable) arguments, so fits with the same model, loss
    and optimizer objects share one program; unhashable arguments (a lambda in a list, say)
    compile for the one call."""
    memo = functools.lru_cache(maxsize=32)(compile_fn)

    def get(*args):
        try:
            return memo(*args)
        except TypeError:
            return compile_fn(*args)

    return get


@cached
def jitted_epoch(config: EpochConfig) -> Callable:
    """The compiled epoch for `config`, with the params and optimizer state donated."""
    return jax.jit(build_epoch(config), donate_argnums=(0, 1))


@cached
def jitted_evaluator(apply_fn: Apply, loss_fn: Loss, metric_fn: Callable | None) -> Callable:
    """The compiled evaluation, shared by every fit of the same model and loss."""
    return jax.jit(build_evaluator(apply_fn, loss_fn, metric_fn))
