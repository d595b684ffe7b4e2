"""Hyperparameter sweeps compiled as one program: a vmap over `inject_hyperparams` states.

    result = nets.sweep(model, nets.softmax_cross_entropy, optim.adamw, data.train,
                        val=data.val, grid={"learning_rate": [1e-3, 3e-3, 1e-2],
                                            "weight_decay": [0.0, 1e-4]},
                        seeds=[0, 1], epochs=5, batch_size=32)
    print(result.format_table()); result.best          # {"learning_rate": 0.003, ...}

The lectures' recipe (coarse grid for a few epochs, then refine) costs one compilation here,
not one per configuration: the optimizer is `optim.inject_hyperparams(factory)`, whose state
holds the hyperparameters as arrays, so every configuration is the same program with different
state values. The runs (the product of the grid and the seeds) are stacked along a leading
axis, and `nets.fit`'s epoch (one `lax.scan` over the minibatches, then the evaluation) is
`vmap`ped over that axis and jitted once: each epoch of all the runs is one dispatch of one
compiled program. Each run gets exactly the numbers it would get trained alone by `nets.fit`
with `optim.inject_hyperparams(factory)(...)`, the init key and shuffle key of its seed
(`seed_keys`). A later sweep of the same setup with as many runs (a refined grid) reuses the
compiled program.

A seed sets the initial params and the minibatch order. A configuration that diverges (NaN or
Inf loss) stops updating and is reported as diverged instead of raising.

With `checkpoint_dir`, every run's params, state and counters and the curves so far are
checkpointed every `checkpoint_every` epochs and after the last; `resume=True` continues a
sweep from its latest complete checkpoint and ends bit for bit where the uninterrupted sweep
ends (epoch `e` of every run shuffles with `fold_in(shuffle_key, e)`).
"""

from __future__ import annotations

import functools
import itertools
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import optim
from nets.data import Split
from nets.training.epoch import DIVERGED, EpochConfig, epoch_config, initial_counters
from nets.training.inputs import Loss, as_split, check_data, positive_count
from nets.training.parallel import abstract, parallel_plan, place_run, replicate, to_host
from nets.training.results import SweepResult
from nets.training.resume import (
    check_settings,
    curves_from,
    curves_record,
    open_run,
    should_save,
)
from nets.training.vmapped import program, test_program


def seed_keys(seed: int) -> tuple[jax.Array, jax.Array]:
    """`(init_key, shuffle_key)` of a seed: what a sweep uses for the params' initialization
    and for `fit(..., key=shuffle_key)`."""
    init_key, shuffle_key = jax.random.split(jax.random.key(seed))
    return init_key, shuffle_key


class _Setup(NamedTuple):
    """What a sweep compiles and starts from (shared by `sweep` and `compile_sweep`)."""

    names: list[str]
    configs: list[tuple]
    runs: list[tuple[tuple, int]]
    config: EpochConfig
    options: tuple[bool, bool]  # (evaluate_train, eval_params): static for the program
    train: Split
    val: Split | None
    test: Split | None
    metric_name: str | None
    optimizer: Any


def _prepare(model, loss, factory, train, *, grid, batch_size, seeds, val, test, fixed, metric,
             drop_last, shuffle, evaluate_train, eval_params, sharding=None,
             mesh=None) -> _Setup:
    if not grid:
        raise ValueError("grid must name at least one hyperparameter")
    names = list(grid)
    for name, values in grid.items():
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
            raise ValueError(f"grid[{name!r}] must be a non-empty list of numbers, got {values!r}")
    if not seeds:
        raise ValueError("seeds must list at least one seed")
    if not hasattr(model, "init"):
        raise TypeError("a sweep initializes the params per seed: model needs init(key)")
    train, val, test = as_split(train, "train"), as_split(val, "val"), as_split(test, "test")
    fixed = dict(fixed or {})
    configs = list(itertools.product(*(grid[name] for name in names)))
    for values in configs:  # every configuration validated now, by the factory itself
        factory(**fixed, **dict(zip(names, values, strict=True)))
    optimizer = _injected(factory, tuple(names), fixed, configs[0])
    plan = parallel_plan(sharding, mesh, batch_size=batch_size)
    if plan is not None and plan.mode != "data":
        raise ValueError(f"a sweep takes sharding='data' (its runs are small models, each "
                         f"replicated); got sharding={sharding!r}")
    config, metric_name = epoch_config(model, loss, optimizer, train, batch_size=batch_size,
                                       metric=metric, drop_last=drop_last, shuffle=shuffle,
                                       parallel=plan)
    runs = [(values, seed) for values in configs for seed in seeds]
    options = (bool(evaluate_train), bool(eval_params))
    shapes = jax.eval_shape(model.init, seed_keys(int(seeds[0]))[0])
    check_data(config.apply_fn, shapes, loss, {"train": train, "val": val, "test": test})
    return _Setup(names, configs, runs, config, options, train, val, test, metric_name, optimizer)


def _starts(model: Any, setup: _Setup) -> tuple[Any, Any, Any, jax.Array]:
    """The runs' starting points, stacked along a leading axis. Built eagerly: each seed's
    params once, each run's state by setting its values into a fresh state."""
    by_seed = {}
    for _, seed in setup.runs:
        if seed not in by_seed:
            by_seed[seed] = model.init(seed_keys(int(seed))[0])
    starts = []
    for values, seed in setup.runs:
        params = by_seed[seed]
        hyperparams = {n: float(v) for n, v in zip(setup.names, values, strict=True)}
        state = optim.set_field(setup.optimizer.init(params), **hyperparams)
        starts.append((params, state, initial_counters()))
    params, states, counters = jax.tree.map(lambda *leaves: jnp.stack(leaves), *starts)
    shuffle_keys = jnp.stack([seed_keys(int(seed))[1] for _, seed in setup.runs])
    return params, states, counters, shuffle_keys


def compile_sweep(
    model: Any,
    loss: Loss,
    factory: Callable[..., Any],
    train: Split | tuple,
    *,
    grid: Mapping[str, Sequence[float]],
    batch_size: int,
    seeds: Sequence[int] = (0,),
    val: Split | tuple | None = None,
    test: Split | tuple | None = None,
    fixed: Mapping[str, Any] | None = None,
    metric: Any = "auto",
    drop_last: bool = True,
    shuffle: bool = True,
    evaluate_train: bool = True,
    eval_params: bool = False,
    sharding: str | None = None,
    mesh: Any = None,
) -> float:
    """Compile, without running, the program `sweep` with the same arguments will run (and
    the final test evaluation); returns the seconds it took. XLA compiles without holding the
    GIL, so several sweeps can be compiled at once from threads before running them."""
    start = time.perf_counter()
    setup = _prepare(model, loss, factory, train, grid=grid, batch_size=batch_size, seeds=seeds,
                     val=val, test=test, fixed=fixed, metric=metric, drop_last=drop_last,
                     shuffle=shuffle, evaluate_train=evaluate_train, eval_params=eval_params,
                     sharding=sharding, mesh=mesh)
    plan = setup.config.parallel
    params, states, counters, keys = (
        abstract(plan, tree, replicated=True)
        for tree in jax.eval_shape(lambda: _starts(model, setup)))
    train, val, test = (None if s is None else abstract(plan, s, replicated=True)
                        for s in (setup.train, setup.val, setup.test))
    epoch = jax.ShapeDtypeStruct((), jnp.int32)
    program(setup.config, setup.options).lower(
        params, states, counters, keys, epoch, train, val).compile()
    if test is not None:
        test_program(setup.config, setup.options[1]).lower(params, states, test).compile()
    return time.perf_counter() - start


def sweep(
    model: Any,
    loss: Loss,
    factory: Callable[..., Any],
    train: Split | tuple,
    *,
    grid: Mapping[str, Sequence[float]],
    epochs: int,
    batch_size: int,
    seeds: Sequence[int] = (0,),
    val: Split | tuple | None = None,
    test: Split | tuple | None = None,
    fixed: Mapping[str, Any] | None = None,
    metric: Any = "auto",
    drop_last: bool = True,
    shuffle: bool = True,
    evaluate_train: bool = True,
    eval_params: bool = False,
    raise_if_diverged: bool = True,
    checkpoint_dir: str | os.PathLike | None = None,
    checkpoint_every: int = 1,
    keep: int | None = 3,
    resume: bool = False,
    sharding: str | None = None,
    mesh: Any = None,
) -> SweepResult:
    """Train `model` for every combination of `grid` values and `seeds`, as one program.

    `factory` builds the optimizer from keyword hyperparameters (`optim.adamw`, `optim.sgd`,
    ...); `grid` maps the names of the numeric ones to the values to try; `fixed` holds other
    keyword arguments of `factory` (numbers or not, e.g. `nesterov=True`) kept out of the
    sweep. `model` needs `init(key)` and `apply(params, x)`. The remaining arguments are those of
    `nets.fit`, and:

    - `test`: a split evaluated once, after the last epoch (`test_loss`, `test_metric`);
    - `evaluate_train=False` skips the per-epoch evaluation on the whole training split (the
      largest part of an epoch's evaluation; `train_loss` is then NaN and the step losses
      remain);
    - `eval_params=True` evaluates each run at `optim.eval_params(state, params)` where the
      optimizer keeps such params (an EMA, lookahead's slow weights, schedule-free's x);
    - `raise_if_diverged=False` returns a result with `best` None when every configuration
      diverged, instead of raising `FloatingPointError`;
    - `checkpoint_dir`, `checkpoint_every`, `keep`, `resume`: checkpoints and resuming, as
      in `nets.fit` (`seconds` and `epoch_seconds` then count this call's epochs only);
    - `sharding="data"`, `mesh`: every batch of every run split over the devices, as in
      `nets.fit` (the runs' params and states replicated).
    """
    epochs = positive_count("epochs", epochs)
    setup = _prepare(model, loss, factory, train, grid=grid, batch_size=batch_size, seeds=seeds,
                     val=val, test=test, fixed=fixed, metric=metric, drop_last=drop_last,
                     shuffle=shuffle, evaluate_train=evaluate_train, eval_params=eval_params,
                     sharding=sharding, mesh=mesh)
    run, every = open_run(checkpoint_dir, checkpoint_every=checkpoint_every, keep=keep,
                          resume=resume)
    start = time.perf_counter()
    params, states, counters, shuffle_keys = _starts(model, setup)
    params, states, counters, (train, val, test) = place_run(
        setup.config.parallel, params, states, counters, (setup.train, setup.val, setup.test))
    shuffle_keys = replicate(setup.config.parallel, shuffle_keys)
    compiled = program(setup.config, setup.options)
    step_losses, metrics, epoch_seconds, done = [], [], [], 0
    settings = _settings(setup, factory, fixed)
    try:
        if run is not None and run.latest() is not None:
            like = {"params": params, "states": states, "counters": counters}
            state, meta = run.restore(run.latest(), like=like, what="this sweep's runs")
            check_settings(run, meta["settings"], settings)
            params, states, counters = state["params"], state["states"], state["counters"]
            done = int(meta["epochs_run"])
            if done > epochs:
                raise ValueError(f"resume=True: the checkpointed sweep has done {done} epochs, "
                                 f"more than epochs={epochs}")
            step_losses, metrics = curves_from(meta["curves"])
        for epoch in range(done, epochs):
            began = time.perf_counter()
            params, states, counters, losses, scores = compiled(
                params, states, counters, shuffle_keys,
                replicate(setup.config.parallel, jnp.asarray(epoch, jnp.int32)), train, val,
            )
            jax.block_until_ready(scores)
            epoch_seconds.append(time.perf_counter() - began)
            step_losses.append(losses)
            metrics.append(scores)
            if should_save(run, epoch + 1, every, epoch + 1 == epochs):
                run.save(epoch + 1, {"params": params, "states": states, "counters": counters},
                         {"epochs_run": epoch + 1, "settings": settings,
                          "curves": curves_record(step_losses, metrics)})
    finally:
        if run is not None:
            run.close()
    test_scores = (jnp.full(len(setup.runs), jnp.nan),) * 2
    if test is not None:
        test_scores = test_program(setup.config, setup.options[1])(params, states, test)
    (steps, _, status), step_losses, metrics, test_scores = to_host(
        (counters, step_losses, metrics, test_scores))
    seconds = time.perf_counter() - start
    return _result(setup, params, np.asarray(steps), np.asarray(status), step_losses, metrics,
                   test_scores, seconds, epoch_seconds, raise_if_diverged)


def _settings(setup: _Setup, factory: Callable, fixed: Mapping[str, Any] | None) -> dict:
    """What a sweep's checkpoints must agree on with the call that resumes it."""
    config = setup.config
    return {
        "factory": getattr(factory, "__qualname__", repr(factory)),
        "grid": {name: [float(v[i]) for v in setup.configs] for i, name in enumerate(setup.names)},
        "seeds": [int(seed) for seed in dict.fromkeys(seed for _, seed in setup.runs)],
        "fixed": {name: repr(value) for name, value in sorted(dict(fixed or {}).items())},
        "batch_size": config.batch_size, "drop_last": config.drop_last, "shuffle": config.shuffle,
        "options": list(setup.options), "metric_name": setup.metric_name,
        "sizes": [None if split is None else len(split) for split in (setup.train, setup.val)],
    }


def _result(setup, params, steps, status, step_losses, metrics, test_scores, seconds,
            epoch_seconds, raise_if_diverged) -> SweepResult:
    # (runs, epochs) per metric; (runs, epochs * steps) of step losses
    train_loss, _, val_loss, val_metric = (
        np.asarray(np.stack([m[i] for m in metrics], axis=1), np.float64) for i in range(4)
    )
    diverged = status == DIVERGED
    table = []
    for r, (values, seed) in enumerate(setup.runs):
        row: dict[str, Any] = {n: float(v) for n, v in zip(setup.names, values, strict=True)}
        row["seed"] = int(seed)
        row["train_loss"] = float(train_loss[r, -1])
        row["val_loss"] = float(val_loss[r, -1])
        row["val_metric"] = float(val_metric[r, -1])
        row["diverged"] = bool(diverged[r])
        table.append(row)

    per_config = len(setup.runs) // len(setup.configs)
    score_column = "val_loss" if setup.val is not None else "train_loss"
    if score_column == "train_loss" and not setup.options[0]:
        raise ValueError("with neither val= nor evaluate_train=True there is nothing to rank by")
    scores = []
    for c in range(len(setup.configs)):
        rows = table[c * per_config : (c + 1) * per_config]
        values = [row[score_column] for row in rows]
        ok = not any(row["diverged"] for row in rows) and all(math.isfinite(v) for v in values)
        scores.append(float(np.mean(values)) if ok else math.inf)
    best_index = int(np.argmin(scores))
    best = {n: float(v) for n, v in zip(setup.names, setup.configs[best_index], strict=True)}
    if not math.isfinite(scores[best_index]):
        if raise_if_diverged:
            raise FloatingPointError("every configuration of the sweep diverged")
        best = None
    return SweepResult(
        table=table,
        best=best,
        best_score=scores[best_index],
        params=params,
        train_loss=train_loss,
        val_loss=val_loss,
        val_metric=val_metric,
        step_loss=np.asarray(np.concatenate(step_losses, axis=1), np.float64).reshape(
            len(setup.runs), -1),
        seconds=seconds,
        metric_name=setup.metric_name,
        num_steps=steps.astype(np.int64),
        test_loss=np.asarray(test_scores[0], np.float64),
        test_metric=np.asarray(test_scores[1], np.float64),
        epoch_seconds=np.asarray(epoch_seconds, np.float64),
    )


_INJECTED: dict[tuple, Any] = {}


def _injected(factory: Callable, names: tuple[str, ...], fixed: dict, first: tuple) -> Any:
    """`inject_hyperparams(factory)` with `fixed` bound, built once per (factory, names,
    fixed) so that sweeps of the same setup share one compiled program. The values it is
    built with (`first`) do not matter: every run's state gets its own values."""
    try:
        key = (factory, names, tuple(sorted(fixed.items())))
        hash(key)
    except TypeError:  # unhashable fixed arguments: build it for this sweep only
        key = None
    if key is not None and key in _INJECTED:
        return _INJECTED[key]
    base = functools.partial(factory, **fixed)
    optimizer = optim.inject_hyperparams(base)(**dict(zip(names, first, strict=True)))
    if key is not None:
        if len(_INJECTED) >= 32:
            _INJECTED.clear()
        _INJECTED[key] = optimizer
    return optimizer
