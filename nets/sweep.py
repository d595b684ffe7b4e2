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
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import optim
from nets.data import Split, num_batches
from nets.train import (
    DIVERGED,
    Loss,
    _apply_fn,
    _as_split,
    _Config,
    _resolve_metric,
    build_epoch,
    build_evaluator,
    initial_counters,
)


def seed_keys(seed: int) -> tuple[jax.Array, jax.Array]:
    """`(init_key, shuffle_key)` of a seed: what a sweep uses for the params' initialization
    and for `fit(..., key=shuffle_key)`."""
    init_key, shuffle_key = jax.random.split(jax.random.key(seed))
    return init_key, shuffle_key


@dataclasses.dataclass
class SweepResult:
    """A sweep's outcome.

    `table`: one dict per run (configuration x seed): the hyperparameters, `seed`,
    `train_loss`, `val_loss`, `val_metric` after the last epoch, `diverged`.
    `best`: the hyperparameters with the lowest validation loss averaged over the seeds (the
    training loss when there is no validation split); `best_score` that average.
    `params`: the final params of every run, stacked along a leading axis in `table` order.
    `train_loss`, `val_loss`, `val_metric`: per-epoch curves, shape `(runs, epochs)`;
    `step_loss`: shape `(runs, steps)`. `seconds`: wall time of the whole sweep.
    """

    table: list[dict[str, Any]]
    best: dict[str, float]
    best_score: float
    params: Any
    train_loss: np.ndarray
    val_loss: np.ndarray
    val_metric: np.ndarray
    step_loss: np.ndarray
    seconds: float
    metric_name: str | None

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
    fixed: Mapping[str, Any] | None = None,
    metric: Any = "auto",
    drop_last: bool = True,
    shuffle: bool = True,
) -> SweepResult:
    """Train `model` for every combination of `grid` values and `seeds`, as one program.

    `factory` builds the optimizer from keyword hyperparameters (`optim.adamw`, `optim.sgd`,
    ...); `grid` maps the names of the numeric ones to the values to try; `fixed` holds other
    keyword arguments of `factory` (numbers or not, e.g. `nesterov=True`) kept out of the
    sweep. `model` needs `init(key)` and `apply(params, x)`. The remaining arguments are those of
    `nets.fit`.
    """
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
    train = _as_split(train, "train")
    val = _as_split(val, "val")
    num_batches(len(train), batch_size, drop_last=drop_last)  # validates batch_size
    metric_fn, metric_name = _resolve_metric(metric, train)

    fixed = dict(fixed or {})
    configs = list(itertools.product(*(grid[name] for name in names)))
    for values in configs:  # every configuration validated now, by the factory itself
        factory(**fixed, **dict(zip(names, values, strict=True)))
    optimizer = _injected(factory, tuple(names), fixed, configs[0])
    config = _Config(
        apply_fn=_apply_fn(model),
        loss_fn=loss,
        metric_fn=metric_fn,
        optimizer=optimizer,
        batch_size=int(batch_size),
        drop_last=bool(drop_last),
        shuffle=bool(shuffle),
        max_steps=None,
        tol_params=None,
        tol_loss=None,
    )

    runs = [(values, seed) for values in configs for seed in seeds]
    start = time.perf_counter()
    # The runs' starting points, stacked along a leading axis. Built eagerly: each seed's
    # params once, each run's state by setting its values into a fresh state.
    by_seed = {}
    for seed in seeds:
        init_key, _ = seed_keys(int(seed))
        by_seed[seed] = model.init(init_key)
    starts = []
    for values, seed in runs:
        params = by_seed[seed]
        state = optim.set_field(
            optimizer.init(params), **{n: float(v) for n, v in zip(names, values, strict=True)}
        )
        starts.append((params, state, initial_counters()))
    params, states, counters = jax.tree.map(lambda *leaves: jnp.stack(leaves), *starts)
    shuffle_keys = jnp.stack([seed_keys(int(seed))[1] for _, seed in runs])

    program = _program(config)
    step_losses, metrics = [], []
    for epoch in range(int(epochs)):
        params, states, counters, losses, scores = program(
            params, states, counters, shuffle_keys, jnp.asarray(epoch, jnp.int32), train, val
        )
        step_losses.append(losses)
        metrics.append(scores)
    status, step_losses, metrics = jax.device_get((counters[2], step_losses, metrics))
    seconds = time.perf_counter() - start
    # (runs, epochs) per metric; (runs, epochs * steps) of step losses
    metrics = [np.stack([m[i] for m in metrics], axis=1) for i in range(4)]
    step_losses = np.concatenate(step_losses, axis=1)

    train_loss, _, val_loss, val_metric = (np.asarray(m, np.float64) for m in metrics)
    diverged = np.asarray(status) == DIVERGED
    table = []
    for r, (values, seed) in enumerate(runs):
        row: dict[str, Any] = {name: float(v) for name, v in zip(names, values, strict=True)}
        row["seed"] = int(seed)
        row["train_loss"] = float(train_loss[r, -1])
        row["val_loss"] = float(val_loss[r, -1])
        row["val_metric"] = float(val_metric[r, -1])
        row["diverged"] = bool(diverged[r])
        table.append(row)

    score_column = "val_loss" if val is not None else "train_loss"
    scores = []
    for c in range(len(configs)):
        rows = table[c * len(seeds) : (c + 1) * len(seeds)]
        values = [row[score_column] for row in rows]
        ok = not any(row["diverged"] for row in rows) and all(math.isfinite(v) for v in values)
        scores.append(float(np.mean(values)) if ok else math.inf)
    best_index = int(np.argmin(scores))
    if not math.isfinite(scores[best_index]):
        raise FloatingPointError("every configuration of the sweep diverged")
    best = {name: float(v) for name, v in zip(names, configs[best_index], strict=True)}

    return SweepResult(
        table=table,
        best=best,
        best_score=scores[best_index],
        params=params,
        train_loss=train_loss,
        val_loss=val_loss,
        val_metric=val_metric,
        step_loss=np.asarray(step_losses, np.float64).reshape(len(runs), -1),
        seconds=seconds,
        metric_name=metric_name,
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


def _program(config: _Config) -> Callable:
    """One epoch of every run, jitted; cached, so a refined grid of the same size (the same
    setup) compiles nothing."""
    try:
        return _program_cached(config)
    except TypeError:
        return jax.jit(_epoch_of_all(config), donate_argnums=(0, 1))


@functools.lru_cache(maxsize=16)
def _program_cached(config: _Config) -> Callable:
    return jax.jit(_epoch_of_all(config), donate_argnums=(0, 1))


def _epoch_of_all(config: _Config) -> Callable:
    """`nets.fit`'s epoch and evaluation, vmapped over the runs (params, state, counters and
    shuffle key per run; the data shared)."""
    epoch_fn = build_epoch(config)
    evaluate_fn = build_evaluator(config.apply_fn, config.loss_fn, config.metric_fn)

    def all_runs(params, states, counters, shuffle_keys, epoch, train, val):
        def one_run(params, state, counters, shuffle_key):
            key = jax.random.fold_in(shuffle_key, epoch)
            params, state, counters, losses, _ = epoch_fn(params, state, counters, key, train)
            return params, state, counters, losses, evaluate_fn(params, train, val)

        return jax.vmap(one_run)(params, states, counters, shuffle_keys)

    return all_runs
