"""The main job: compare optimizers fairly on real data, and on the lectures' landscapes.

    python -m nets.compare                               # digits, the lectures' seven
    python -m nets.compare --optimizers adam,adamw,lion --seeds 5 --json table.json

Each optimizer gets the same tuning budget: a log-spaced grid of learning rates around its
customary rate (`--grid` points over `--lr-range`), crossed with `--seeds`, trained as one
vmapped program; the rate is chosen by the mean validation metric; the table reports the test
metric at that rate over the seeds (mean, std, 95% interval), which optimizers are tied with
the best (Welch's t-test at 5%), and the steps and seconds to `--target`. The protocol is
`nets.compare_optimizers` (nets/comparison/protocol.py); `--list` shows every optimizer it can
enter. Plots go into `--out`: tuning curves, training curves with bands over the seeds, the test
metric per seed, and the optimizers' paths on two landscapes.

Unless `--no-landscapes` is given, the lectures' optimizers also run with `optim.minimize` from
the customary start of two of the lectures' landscapes (`LANDSCAPES`: one compiled
`while_loop` per run, alongside the compilation of the training programs). Their learning
rates suit each landscape's scale and curvature:

| name     | `lecture_quadratic`, 100 steps         | `rosenbrock`, 1000 steps            |
| -------- | -------------------------------------- | ----------------------------------- |
| sgd      | 0.045 = 0.9 / lambda_max, monotone     | 1e-3 < 2 / lambda_max = 2 / 1506    |
| momentum | 0.01, momentum 0.9                     | 1e-3, momentum 0.9                  |
| nesterov | as momentum                            | as momentum                         |
| adagrad  | 2.0: first step ~ 2 per coordinate     | 0.5                                 |
| rmsprop  | 0.3: first step ~ 0.3 / sqrt(0.1)      | 0.01                                |
| adadelta | 1.0, eps 1e-2: first step ~ 0.3        | 1.0, eps 1e-6 (Zeiler's)            |
| adam     | 0.3: steps of at most ~ 0.3            | 0.1                                 |

`lecture_quadratic` is 10 x1^2 + 0.5 x2^2 (lambda_max = 20), started at (-8, 8); heavy-ball
momentum is stable there below 2 (1 + 0.9) / 20 = 0.19. `rosenbrock` starts at (-1.2, 1), where
lambda_max = 1506 (1002 at the minimum). AdaDelta's first step is about sqrt(eps / (1 - rho))
per coordinate, so with Zeiler's eps = 1e-6 it barely moves on the bowl in 100 steps, and eps is
raised there instead. Other optimizers are compared on the data only.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jax
import numpy as np

import optim
from nets import data as data_lib
from nets import losses
from nets.compare_cli import DEFAULT_TARGETS, parse_arguments, write_json
from nets.comparison.contenders import LECTURES, contenders
from nets.comparison.protocol import compare_optimizers
from nets.mlp import MLP
from nets.plots.comparison import plot_comparison_curves, plot_test_metric, plot_tuning_curves
from nets.plots.landscapes import plot_landscape_trajectories
from optim import landscapes as landscapes_lib

OPTIMIZERS: dict[str, tuple[Callable[..., Any], dict[str, Any]]] = {
    name: (c.factory, {"learning_rate": c.learning_rate, **c.fixed})
    for name, c in LECTURES.items()
}
"""The lectures' seven at their customary rates: name -> (factory, keyword arguments)."""

# landscape name -> (landscape factory, max_steps, {optimizer name: keyword arguments}); the
# factories are those of `OPTIMIZERS`. See the module docstring for the choices.
LANDSCAPES: dict[str, tuple[Callable[[], Any], int, dict[str, dict[str, Any]]]] = {
    "lecture_quadratic": (landscapes_lib.lecture_quadratic, 100, {
        "sgd": {"learning_rate": 0.045},
        "momentum": {"learning_rate": 0.01, "momentum": 0.9},
        "nesterov": {"learning_rate": 0.01, "momentum": 0.9, "nesterov": True},
        "adagrad": {"learning_rate": 2.0},
        "rmsprop": {"learning_rate": 0.3},
        "adadelta": {"learning_rate": 1.0, "eps": 1e-2},
        "adam": {"learning_rate": 0.3},
    }),
    "rosenbrock": (landscapes_lib.rosenbrock, 1000, {
        "sgd": {"learning_rate": 1e-3},
        "momentum": {"learning_rate": 1e-3, "momentum": 0.9},
        "nesterov": {"learning_rate": 1e-3, "momentum": 0.9, "nesterov": True},
        "adagrad": {"learning_rate": 0.5},
        "rmsprop": {"learning_rate": 0.01},
        "adadelta": {"learning_rate": 1.0},
        "adam": {"learning_rate": 0.1},
    }),
}

LOSSES = {
    "multiclass": losses.softmax_cross_entropy,
    "binary": losses.binary_cross_entropy,
    "regression": losses.l2_loss,
}


def make_optimizer(name: str) -> Any:
    """The lectures' optimizer called `name` at its customary rate (one of `OPTIMIZERS`)."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose from {', '.join(OPTIMIZERS)}")
    factory, kwargs = OPTIMIZERS[name]
    return factory(**kwargs)


def _minimize_on(name: str, optimizer: str) -> optim.MinimizeResult:
    """One run of `optimizer` on landscape `name`, from its start, with the trajectory."""
    factory, max_steps, settings = LANDSCAPES[name]
    landscape = factory()
    tx = OPTIMIZERS[optimizer][0](**settings[optimizer])
    result = optim.minimize(landscape.fn, np.asarray(landscape.start, np.float32), tx,
                            max_steps=max_steps, return_trajectory=True)
    return jax.block_until_ready(result)


def run_landscape(
    name: str, optimizers: Sequence[str] = tuple(OPTIMIZERS), *, jobs: int | None = None
) -> tuple[Any, dict[str, optim.MinimizeResult]]:
    """Run each of the lectures' `optimizers` with `optim.minimize` on the landscape `name`
    (one of `LANDSCAPES`) from its customary start, with the trajectory; returns
    `(landscape, {optimizer: result})`. `jobs` threads compile the runs."""
    if name not in LANDSCAPES:
        raise ValueError(f"unknown landscape {name!r}; choose from {', '.join(LANDSCAPES)}")
    unknown = [o for o in optimizers if o not in LANDSCAPES[name][2]]
    if unknown:
        raise ValueError(f"no settings on {name} for {unknown}; choose from {list(OPTIMIZERS)}")
    with ThreadPoolExecutor(max(1, min(len(optimizers), jobs or 2))) as pool:
        results = dict(zip(optimizers, pool.map(lambda o: _minimize_on(name, o), optimizers),
                           strict=True))
    return LANDSCAPES[name][0](), results


def _landscape_row(landscape: Any, name: str, optimizer: str,
                   result: optim.MinimizeResult) -> dict[str, Any]:
    x = np.asarray(result.params, np.float64)
    distance = min(float(np.linalg.norm(x - np.asarray(m))) for m in landscape.minima)
    return {
        "landscape": name,
        "optimizer": optimizer,
        "hyperparameters": dict(LANDSCAPES[name][2][optimizer]),
        "steps": int(result.num_steps),
        "reason": result.reason,
        "value": float(result.value),
        "gap": float(result.value) - landscape.minimum_value,
        "distance_to_minimum": distance,
    }


def _landscape_runs(names: Sequence[str], optimizers: Sequence[str]) -> list[dict[str, Any]]:
    """Every (landscape, lecture optimizer) run, with its landscape and result."""
    runs = []
    for name in names:
        chosen = [o for o in optimizers if o in LANDSCAPES[name][2]]
        if chosen:
            landscape, results = run_landscape(name, chosen)
            runs.append({"name": name, "landscape": landscape, "results": results})
    return runs


def run(
    *,
    dataset: str = "digits",
    optimizers: Sequence[str] = tuple(OPTIMIZERS),
    epochs: int = 20,
    batch_size: int = 32,
    seeds: Sequence[int] = (0, 1, 2),
    grid_points: int = 5,
    lr_span: float = 10.0,
    lr_range: tuple[float, float] | None = None,
    target: float | None = None,
    split_seed: int = 0,
    hidden: Sequence[int] = (256, 256),
    activation: str = "relu",
    out: str | None = "compare-out",
    jobs: int | None = None,
    landscapes: Sequence[str] = tuple(LANDSCAPES),
    log: Callable[[str], None] | None = print,
    sharding: str | None = None,
) -> dict[str, Any]:
    """Compare `optimizers` (names, see `nets.available_contenders`) on `dataset`; return the
    report (what `--json` writes). `lr_range=(low, high)` gives every optimizer that range
    instead of `lr_span` around its own rate. The lectures' optimizers also run on each of
    `landscapes` while the training programs compile. Plots go into `out` (None: none).
    `sharding="data"` splits every batch over all devices."""
    times: dict[str, float] = {}
    start = time.perf_counter()
    data = data_lib.load(dataset, seed=split_seed)
    loss = LOSSES[data.task]
    model = MLP((data.num_features, *hidden, data.num_outputs), activation=activation)
    entrants = contenders(list(optimizers))
    grids = None
    if lr_range is not None:
        grids = {c.name: list(np.geomspace(*lr_range, grid_points)) for c in entrants}
    times["data"] = time.perf_counter() - start
    found: list[dict[str, Any]] = []

    def while_compiling() -> None:
        began = time.perf_counter()
        found.extend(_landscape_runs(landscapes, [c.name for c in entrants]))
        times["landscapes (while compiling)"] = time.perf_counter() - began

    began = time.perf_counter()
    comparison = compare_optimizers(
        model, loss, entrants, data, seeds=seeds, epochs=epochs, batch_size=batch_size,
        grid_points=grid_points, lr_span=lr_span, grids=grids, target=target, jobs=jobs,
        sharding=sharding,
        log=log, while_compiling=while_compiling,
    )
    times["compile and train"] = time.perf_counter() - began
    report = {
        "dataset": dataset,
        "task": data.task,
        "model": {"layer_sizes": list(model.layer_sizes), "activation": activation},
        "examples": {"train": len(data.train), "val": len(data.val), "test": len(data.test)},
        "epochs": epochs,
        "batch_size": batch_size,
        "split_seed": split_seed,
        **comparison.to_json(),
        "landscapes": [
            _landscape_row(run["landscape"], run["name"], optimizer, result)
            for run in found for optimizer, result in run["results"].items()
        ],
        "plots": [],
    }
    if out is not None:
        began = time.perf_counter()
        report["plots"] = _plots(comparison, found, out, dataset, model, batch_size)
        times["plots"] = time.perf_counter() - began
    report["comparison"] = comparison
    report["phases"] = times
    return report


def _plots(comparison, found, out, dataset, model, batch_size) -> list[str]:
    os.makedirs(out, exist_ok=True)
    setting = f"{dataset}, MLP {'-'.join(map(str, model.layer_sizes))}, batch {batch_size}"
    paths = [
        plot_tuning_curves(comparison, os.path.join(out, "tuning_curves.png"),
                           title=f"Tuning curves ({setting})\nmean over the seeds, band from "
                                 "min to max; ringed: the chosen rate"),
        plot_comparison_curves(comparison, os.path.join(out, "curves_at_chosen_rates.png")),
        plot_test_metric(comparison, os.path.join(out, "test_metric.png")),
    ]
    for run in found:
        steps = LANDSCAPES[run["name"]][1]
        landscape = run["landscape"]
        paths.append(plot_landscape_trajectories(
            landscape, run["results"], os.path.join(out, f"landscape_{run['name']}.png"),
            title=f"The lectures' optimizers on {run['name']} (optim.minimize, at most {steps} "
                  f"steps from {landscape.start})",
        ))
    return paths


def format_landscape_table(report: dict[str, Any]) -> str:
    """The report's landscape runs as aligned text."""
    header = (f"{'landscape':<18} {'optimizer':<10} {'lr':>8} {'steps':>6} {'f - f*':>10} "
              f"{'|x - x*|':>10}  stopped")
    lines = [header, "-" * len(header)]
    for row in report["landscapes"]:
        lr = row["hyperparameters"].get("learning_rate", float("nan"))
        lines.append(f"{row['landscape']:<18} {row['optimizer']:<10} {lr:>8g} {row['steps']:>6d} "
                     f"{row['gap']:>10.3g} {row['distance_to_minimum']:>10.3g}  {row['reason']}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_arguments(argv, optimizers=tuple(OPTIMIZERS), landscapes=tuple(LANDSCAPES))
    if args.list:
        return 0
    start = time.perf_counter()
    target = DEFAULT_TARGETS.get(args.dataset) if args.target is None else args.target
    layers = "-".join(map(str, (args.features, *args.hidden, args.outputs)))
    print(f"{args.dataset}: MLP {layers} ({args.activation}), {args.epochs} epochs, batch size "
          f"{args.batch_size}, split seed {args.split_seed}")
    spread = (f"from {args.lr_range[0]:g} to {args.lr_range[1]:g}" if args.lr_range else
              f"its customary rate x {args.lr_span:g}^[-1, 1]")
    print(f"tuning: {args.grid} learning rates per optimizer ({spread}) x {len(args.seeds)} seeds "
          f"({', '.join(map(str, args.seeds))}), the same budget for each")
    report = run(
        dataset=args.dataset, optimizers=args.optimizers, epochs=args.epochs,
        batch_size=args.batch_size, seeds=args.seeds, grid_points=args.grid,
        lr_span=args.lr_span, lr_range=args.lr_range, target=target,
        split_seed=args.split_seed, hidden=args.hidden, activation=args.activation,
        out=args.out, jobs=args.jobs, landscapes=() if args.no_landscapes else tuple(LANDSCAPES),
        sharding=args.sharding,
    )
    comparison = report.pop("comparison")
    print()
    print(comparison.format_table())
    print(comparison.legend())
    if report["landscapes"]:
        shown = ", ".join(dict.fromkeys(row["landscape"] for row in report["landscapes"]))
        print(f"\nthe lectures' optimizers on {shown} (optim.minimize from the customary start)")
        print(format_landscape_table(report))
    for path in report["plots"]:
        print(f"wrote {path}")
    report["total_seconds"] = time.perf_counter() - start
    if args.json:
        write_json(report, args.json)
        print(f"wrote {args.json}")
    print("phases: " + ", ".join(f"{k} {v:.1f} s" for k, v in report["phases"].items()))
    print(f"total {report['total_seconds']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
