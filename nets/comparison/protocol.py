"""A fair comparison of optimizers: the same tuning budget on validation data, several seeds,
the spread, and the time to a target.

    data = nets.load_digits()
    model = nets.MLP((64, 256, 256, 10))
    result = nets.compare_optimizers(
        model, nets.softmax_cross_entropy, nets.contenders(["sgd", "adam"]), data,
        seeds=(0, 1, 2), epochs=20, batch_size=32, target=0.95)
    print(result.format_table())

The protocol (as DeepOBS, Schneider et al. 2019; Schmidt et al. 2021; AlgoPerf, Dahl et al.
2023 compare optimizers):

1. each optimizer gets the same budget: a log-spaced grid of learning rates around its
   customary rate (`learning_rate_grid`), crossed with the seeds, trained as ONE vmapped
   program (`nets.sweep`); its other hyperparameters are its defaults;
2. the learning rate is chosen by the mean over the seeds of the validation metric after the
   last epoch (accuracy, or the loss for regression), never by test data; a rate at which a
   seed diverged is not eligible; ties go to the lower mean validation loss, then to the
   smaller rate;
3. at the chosen rate the test metric of each seed is reported, with its mean, standard
   deviation and Student's 95% interval; the best optimizer is the one with the best mean,
   and an optimizer is tied with it when Welch's t-test at 5% does not separate their seeds;
4. time to result: per seed, the steps and seconds until the validation metric first reaches
   `target` at the end of an epoch (None where it never does). The seconds are the optimizer's
   program time per epoch divided by the runs it trains at once, times those epochs.

A seed drives the initialization and the minibatch order; the data split is the dataset's own
(fixed), so every optimizer and seed is judged on the same test examples. An optimizer's
numbers depend only on its own programs: running it alone or with others gives the same
numbers (the seconds aside, which are measured).
"""

from __future__ import annotations

import dataclasses
import math
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from _descent import validation
from nets.comparison.contenders import Contender
from nets.comparison.report import format_table, legend, to_json
from nets.comparison.statistics import Summary, summarize, welch_p_value
from nets.data import Dataset, num_batches
from nets.training.sweep import compile_sweep, sweep

ALPHA = 0.05
"""The level of the Welch's t-test that decides ties with the best."""


def learning_rate_grid(learning_rate: float, points: int = 5, span: float = 10.0) -> list[float]:
    """`points` log-spaced rates from `learning_rate / span` to `learning_rate * span` (an odd
    number of points includes `learning_rate` itself)."""
    validation.positive("learning_rate", learning_rate)
    validation.integer("points", points, 2)
    validation.in_range("span", span, 1.0, low_open=True)
    return [float(v) for v in np.geomspace(learning_rate / span, learning_rate * span, points)]


@dataclasses.dataclass
class GridPoint:
    """One learning rate of an optimizer's grid: the validation metric over the seeds."""

    learning_rate: float
    val_metric_mean: float
    val_metric_std: float
    val_loss_mean: float
    diverged: int  # seeds that diverged at this rate


@dataclasses.dataclass
class Outcome:
    """One optimizer's result. `test` holds the test metric per seed (in the order of
    `seeds`) at the chosen `learning_rate`; `epoch_loss` (seeds x epochs, the mean minibatch
    loss of each epoch) and `val_curve` (seeds x epochs) are its curves at that rate; `seconds`
    the wall time of its grid program (compilation, `compile_seconds`, apart)."""

    optimizer: str
    learning_rate: float | None
    grid: list[GridPoint]
    seeds: list[int]
    test: list[float]
    summary: Summary | None  # None when every rate diverged
    steps_to_target: list[int | None]
    seconds_to_target: list[float | None]
    seconds: float
    compile_seconds: float
    runs: int
    epoch_loss: np.ndarray
    val_curve: np.ndarray
    val_by_rate: np.ndarray  # rates x seeds: the final validation metric, for tuning curves
    tied_with_best: bool = False
    p_value: float | None = None  # Welch's t-test against the best (None for the best)


@dataclasses.dataclass
class Comparison:
    """The outcome of `compare_optimizers`, in the order the optimizers were given."""

    outcomes: list[Outcome]
    metric: str  # "accuracy" or "loss"
    higher_is_better: bool
    best: str | None
    seeds: list[int]
    target: float | None
    settings: dict[str, Any]

    def outcome(self, name: str) -> Outcome:
        return next(o for o in self.outcomes if o.optimizer == name)

    def format_table(self) -> str:
        """The table: chosen rate, test metric mean +- std, 95% interval, tie, time to target."""
        return format_table(self)

    def legend(self) -> str:
        """What the table's numbers mean (the selection, the interval, the tie rule)."""
        return legend(self)

    def to_json(self) -> dict[str, Any]:
        """The comparison as JSON-ready data (NaN and infinities become None)."""
        return to_json(self)


def _score(sweep_result, higher_is_better: bool) -> tuple[np.ndarray, np.ndarray]:
    """(validation metric, validation loss) after the last epoch, per run."""
    metric = sweep_result.val_metric[:, -1] if higher_is_better else sweep_result.val_loss[:, -1]
    return metric, sweep_result.val_loss[:, -1]


def _choose(metric: np.ndarray, loss: np.ndarray, diverged: np.ndarray, higher: bool) -> int | None:
    """The index of the chosen rate (rows: rates, columns: seeds), None if none is eligible."""
    best, best_key = None, None
    for i in range(metric.shape[0]):
        if diverged[i].any() or not np.all(np.isfinite(metric[i])):
            continue
        mean = float(metric[i].mean())
        key = (-mean if higher else mean, float(loss[i].mean()), i)
        if best_key is None or key < best_key:
            best, best_key = i, key
    return best


def _time_to_target(curve: np.ndarray, target: float | None, higher: bool, steps_per_epoch: int,
                    run_epoch_seconds: float) -> tuple[int | None, float | None]:
    if target is None:
        return None, None
    reached = np.nonzero(curve >= target if higher else curve <= target)[0]
    if reached.size == 0:
        return None, None
    epochs = int(reached[0]) + 1
    return epochs * steps_per_epoch, epochs * run_epoch_seconds


def _outcome(contender, result, grid, seeds, epochs, steps_per_epoch, target, higher,
             compile_seconds) -> Outcome:
    shape = (len(grid), len(seeds))
    metric, loss = (x.reshape(shape) for x in _score(result, higher))
    diverged = np.asarray([row["diverged"] for row in result.table]).reshape(shape)
    points = [
        GridPoint(lr, float(np.mean(metric[i])), float(np.std(metric[i], ddof=1)),
                  float(np.mean(loss[i])), int(diverged[i].sum()))
        for i, lr in enumerate(grid)
    ]
    chosen = _choose(metric, loss, diverged, higher)
    runs = len(result.table)
    run_epoch_seconds = float(np.mean(result.epoch_seconds)) / runs
    epoch_loss = result.step_loss.reshape(runs, epochs, steps_per_epoch).mean(axis=2)
    curves = result.val_metric if higher else result.val_loss
    common = dict(optimizer=contender.name, grid=points, seeds=list(seeds), seconds=result.seconds,
                  compile_seconds=compile_seconds, runs=runs, val_by_rate=metric)
    if chosen is None:
        nan = np.full((len(seeds), epochs), np.nan)
        return Outcome(learning_rate=None, test=[math.nan] * len(seeds), summary=None,
                       steps_to_target=[None] * len(seeds),
                       seconds_to_target=[None] * len(seeds), epoch_loss=nan, val_curve=nan,
                       **common)
    rows = slice(chosen * len(seeds), (chosen + 1) * len(seeds))
    test = result.test_metric[rows] if higher else result.test_loss[rows]
    timing = [_time_to_target(c, target, higher, steps_per_epoch, run_epoch_seconds)
              for c in curves[rows]]
    return Outcome(
        learning_rate=grid[chosen],
        test=[float(v) for v in test],
        summary=summarize(test),
        steps_to_target=[t[0] for t in timing],
        seconds_to_target=[t[1] for t in timing],
        epoch_loss=epoch_loss[rows],
        val_curve=curves[rows],
        **common,
    )


def _mark_ties(outcomes: list[Outcome], higher: bool) -> str | None:
    ranked = [o for o in outcomes if o.summary is not None]
    if not ranked:
        return None
    best = max(ranked, key=lambda o: o.summary.mean if higher else -o.summary.mean)
    for o in ranked:
        if o is best:
            o.tied_with_best = True
            continue
        o.p_value = welch_p_value(best.test, o.test)
        o.tied_with_best = o.p_value >= ALPHA
    return best.optimizer


def compare_optimizers(
    model: Any,
    loss: Callable,
    entrants: Sequence[Contender],
    data: Dataset,
    *,
    seeds: Sequence[int] = (0, 1, 2),
    epochs: int = 20,
    batch_size: int = 32,
    grid_points: int = 5,
    lr_span: float = 10.0,
    grids: Mapping[str, Sequence[float]] | None = None,
    target: float | None = None,
    jobs: int | None = None,
    log: Callable[[str], None] | None = None,
    while_compiling: Callable[[], None] | None = None,
    sharding: str | None = None,
) -> Comparison:
    """Compare `entrants` on `data` by the protocol of the module docstring.

    `model` needs `init(key)` and `apply(params, x)`; `loss(outputs, targets)`. Each
    optimizer's grid is `learning_rate_grid(its rate, grid_points, lr_span)` unless `grids`
    names one. Classification compares accuracy (higher is better), regression the loss.
    `target` is the validation metric to reach (an accuracy, or a loss to fall below).
    The programs are compiled first, in `jobs` threads (default: one per CPU), and
    `while_compiling` is called in this thread meanwhile (the main job runs its landscapes
    there); then they are trained, `jobs` at a time (XLA:CPU runs one on one core, so one per
    core leaves each its own core). `log` gets a line per phase. `sharding="data"` splits
    every batch over all devices; the programs then train one at a time, each on them all.
    """
    seeds = [validation.integer("seed", s, 0) for s in seeds]
    if len(seeds) < 2 or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be at least two distinct seeds (for a spread), got {seeds}")
    epochs = validation.integer("epochs", epochs, 1)
    if not entrants:
        raise ValueError("entrants must name at least one optimizer")
    higher = data.task != "regression"
    grids = dict(grids or {})
    plan = {c.name: [float(v) for v in grids.get(c.name) or
                     learning_rate_grid(c.learning_rate, grid_points, lr_span)] for c in entrants}
    steps_per_epoch = num_batches(len(data.train), batch_size)
    common = dict(seeds=seeds, batch_size=batch_size, val=data.val, test=data.test,
                  evaluate_train=False, eval_params=True, sharding=sharding)

    def compile_one(c: Contender) -> float:
        grid = {"learning_rate": plan[c.name]}
        return compile_sweep(model, loss, c.factory, data.train, grid=grid, fixed=c.fixed,
                             **common)

    def train_one(c: Contender, compile_seconds: float) -> Outcome:
        result = sweep(model, loss, c.factory, data.train, grid={"learning_rate": plan[c.name]},
                       fixed=c.fixed, epochs=epochs, raise_if_diverged=False, **common)
        if log is not None:
            with printing:  # one line at a time from the training threads
                log(f"trained {c.name}: {len(result.table)} runs in {result.seconds:.1f} s")
        return _outcome(c, result, plan[c.name], seeds, epochs, steps_per_epoch, target, higher,
                        compile_seconds)

    printing = threading.Lock()
    threads = max(1, min(len(entrants), jobs or os.cpu_count() or 1))
    with ThreadPoolExecutor(threads) as pool:
        futures = [pool.submit(compile_one, c) for c in entrants]
        if while_compiling is not None:
            while_compiling()
        compiled = [f.result() for f in futures]
        if log is not None:
            log(f"compiled {len(entrants)} programs in {threads} threads: {max(compiled):.1f} s "
                "the longest")
        # XLA:CPU runs one such program on one core: `threads` of them at once use the machine.
        if sharding is None:
            outcomes = list(pool.map(train_one, entrants, compiled))
        else:  # each program already spans every device
            outcomes = [train_one(c, seconds) for c, seconds in zip(entrants, compiled,
                                                                    strict=True)]
    best = _mark_ties(outcomes, higher)
    settings = {"epochs": epochs, "batch_size": batch_size, "grid_points": grid_points,
                "lr_span": lr_span, "steps_per_epoch": steps_per_epoch,
                "selection": "mean validation " + ("accuracy" if higher else "loss"),
                "test": f"Welch's t-test at {ALPHA:.0%}"}
    return Comparison(outcomes, "accuracy" if higher else "loss", higher, best, seeds, target,
                      settings)
