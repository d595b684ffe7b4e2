"""The main job: train one MLP on real data with each optimizer of the lectures, compare.

    python -m nets.compare                                  # digits, all seven, 20 epochs
    python -m nets.compare --optimizers adam,sgd --epochs 5 --json table.json --out plots/

Every optimizer starts from the same initial params and sees the same minibatches (same seed),
so the differences in the table are the optimizers'. Prints a table (optimizer, learning rate,
final training loss, test accuracy, seconds including compilation), writes loss curves
into `--out` (per-step raw losses, their moving average, per-epoch train/validation loss and
validation accuracy) and, with `--json PATH`, the table as JSON.

The learning rates are the ones that work for this network on the standardized digits at batch
size 32 (each checked against a third and three times its value; all give >= 97% test
accuracy in 20 epochs):

| name     | optimizer                                      | why this learning rate         |
| -------- | ---------------------------------------------- | ------------------------------ |
| sgd      | `optim.sgd(0.1)`                               | 0.03 to 0.3 all work           |
| momentum | `optim.sgd(0.01, momentum=0.9)`                | step 0.01 / (1 - 0.9) = 0.1    |
| nesterov | `optim.sgd(0.01, momentum=0.9, nesterov=True)` | as momentum                    |
| adagrad  | `optim.adagrad(0.05)`                          | steps shrink as g^2 adds up    |
| rmsprop  | `optim.rmsprop(1e-3)`                          | the lecture's default          |
| adadelta | `optim.adadelta(1.0)`                          | Zeiler (2012) has no rate: 1.0 |
| adam     | `optim.adam(1e-3)`                             | Kingma and Ba (2015) default   |

Unless `--no-landscapes` is given, the same optimizers also run with `optim.minimize` from the
customary start of two of the lectures' landscapes (`LANDSCAPES`: one compiled `while_loop` per
run), and `landscape_<name>.png` shows their paths on the contours and their values against the
step. The learning rates suit each landscape's scale and curvature:

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
lambda_max = 1506 (1002 at the minimum). AdaDelta has no learning rate to tune: its first step
is about sqrt(eps / (1 - rho)) per coordinate, so with Zeiler's eps = 1e-6 it barely moves on
the bowl in 100 steps (f ~ 600), and eps is raised there instead; on Rosenbrock the default
does best among 1e-6 to 1e-2.
"""

from __future__ import annotations

import argparse
import json
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
from nets.mlp import MLP
from nets.plots import (
    plot_epoch_curves,
    plot_landscape_trajectories,
    plot_loss_panels,
    plot_step_losses,
)
from nets.train import compile_fit, evaluate, fit
from optim import landscapes as landscapes_lib

# name -> (factory, keyword arguments); see the module docstring for the choices.
OPTIMIZERS: dict[str, tuple[Callable[..., Any], dict[str, Any]]] = {
    "sgd": (optim.sgd, {"learning_rate": 0.1}),
    "momentum": (optim.sgd, {"learning_rate": 0.01, "momentum": 0.9}),
    "nesterov": (optim.sgd, {"learning_rate": 0.01, "momentum": 0.9, "nesterov": True}),
    "adagrad": (optim.adagrad, {"learning_rate": 0.05}),
    "rmsprop": (optim.rmsprop, {"learning_rate": 1e-3}),
    "adadelta": (optim.adadelta, {"learning_rate": 1.0}),
    "adam": (optim.adam, {"learning_rate": 1e-3}),
}

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
    """The optimizer called `name` in the comparison (one of `OPTIMIZERS`)."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose from {', '.join(OPTIMIZERS)}")
    factory, kwargs = OPTIMIZERS[name]
    return factory(**kwargs)


def _check_landscape(name: str, optimizers: Sequence[str]) -> None:
    if name not in LANDSCAPES:
        raise ValueError(f"unknown landscape {name!r}; choose from {', '.join(LANDSCAPES)}")
    for optimizer in optimizers:
        if optimizer not in LANDSCAPES[name][2]:
            raise ValueError(f"unknown optimizer {optimizer!r}; choose from "
                             f"{', '.join(LANDSCAPES[name][2])}")


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
    """Run each optimizer with `optim.minimize` on the landscape `name` (one of `LANDSCAPES`)
    from its customary start, with the trajectory; returns `(landscape, {optimizer: result})`.

    `jobs` threads compile the runs (default: one per CPU).
    """
    _check_landscape(name, optimizers)
    jobs = max(1, min(len(optimizers), jobs or os.cpu_count() or 1))
    with ThreadPoolExecutor(jobs) as pool:
        runs = pool.map(lambda optimizer: _minimize_on(name, optimizer), optimizers)
        results = dict(zip(optimizers, runs, strict=True))
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


def run(
    *,
    dataset: str = "digits",
    optimizers: Sequence[str] = tuple(OPTIMIZERS),
    epochs: int = 20,
    batch_size: int = 32,
    seed: int = 0,
    hidden: Sequence[int] = (256, 256),
    activation: str = "relu",
    out: str | None = "compare-out",
    progress: bool = False,
    jobs: int | None = None,
    landscapes: Sequence[str] = tuple(LANDSCAPES),
    log: Callable[[str], None] | None = print,
) -> dict[str, Any]:
    """Train the same MLP with each optimizer; return the report (what `--json` writes).

    Also runs the optimizers on each of `landscapes` (names in `LANDSCAPES`; `()` for none):
    `report["landscapes"]` holds one row per run (steps, final value, its gap to the minimum,
    the distance to the nearest minimum); they share the threads that compile the training
    programs and are done before training starts. Writes the plots into `out` (skipped when
    None), with one `landscape_<name>.png` per landscape. `log` receives each row as it is done.
    `jobs` threads compile the optimizers' programs (default: one per CPU). A row's `seconds`
    is its training and test evaluation after compilation; `compile_seconds` its compilation
    (wall time of its thread; the threads overlap).
    """
    for name in optimizers:
        if name not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {name!r}; choose from {', '.join(OPTIMIZERS)}")
    for name in landscapes:
        _check_landscape(name, optimizers)
    data = data_lib.load(dataset, seed=seed)
    loss = LOSSES[data.task]
    model = MLP((data.num_features, *hidden, data.num_outputs), activation=activation)
    init_key, shuffle_key = jax.random.split(jax.random.key(seed))
    params = model.init(init_key)

    built = {name: make_optimizer(name) for name in optimizers}
    # Compile every optimizer's epoch first, in parallel threads (XLA releases the GIL), then
    # train one at a time so that the timings of the runs do not disturb each other.
    jobs = max(1, min(len(built), jobs or os.cpu_count() or 1))

    def compile_one(name: str) -> float:
        return compile_fit(model, params, loss, built[name], data.train, val=data.val,
                           batch_size=batch_size)

    def run_on_landscape(job: tuple[str, str]) -> optim.MinimizeResult:
        return _minimize_on(*job)

    # The landscape runs queue behind the compilations, filling the threads that finish early;
    # all are done before training starts.
    landscape_jobs = [(name, optimizer) for name in landscapes for optimizer in optimizers]
    with ThreadPoolExecutor(jobs) as pool:
        compiled = pool.map(compile_one, built)
        minimized = pool.map(run_on_landscape, landscape_jobs)
        compile_seconds = dict(zip(built, compiled, strict=True))
        landscape_results: dict[str, dict[str, optim.MinimizeResult]] = {}
        for (name, optimizer), result in zip(landscape_jobs, minimized, strict=True):
            landscape_results.setdefault(name, {})[optimizer] = result
    evaluate(model, params, loss, data.test)  # compiles the test evaluation, shared by all

    rows, histories = [], {}
    for name, optimizer in built.items():
        start = time.perf_counter()
        result = fit(
            model, params, loss, optimizer, data.train, val=data.val,
            epochs=epochs, batch_size=batch_size, key=shuffle_key, progress=progress,
        )
        test = evaluate(model, result.params, loss, data.test)
        seconds = time.perf_counter() - start
        history = result.history
        histories[name] = history
        rows.append({
            "optimizer": name,
            "hyperparameters": dict(OPTIMIZERS[name][1]),
            "final_train_loss": history.train_loss[-1],
            "val_loss": history.val_loss[-1],
            "val_accuracy": history.val_metric[-1] if data.task != "regression" else None,
            "test_loss": test["loss"],
            "test_accuracy": test.get("accuracy"),
            "seconds": seconds,
            "compile_seconds": compile_seconds[name],
            "steps": result.num_steps,
            "epoch_seconds": float(np.median(history.seconds)),
        })
        if log is not None:
            log(_format_row(rows[-1]))

    report = {
        "dataset": dataset,
        "task": data.task,
        "model": {"layer_sizes": list(model.layer_sizes), "activation": activation},
        "examples": {"train": len(data.train), "val": len(data.val), "test": len(data.test)},
        "epochs": epochs,
        "batch_size": batch_size,
        "seed": seed,
        "results": rows,
        "landscapes": [],
        "plots": [],
    }
    paths = {}
    for name, results in landscape_results.items():
        landscape = LANDSCAPES[name][0]()
        report["landscapes"] += [
            _landscape_row(landscape, name, optimizer, result)
            for optimizer, result in results.items()
        ]
        if out is not None:
            os.makedirs(out, exist_ok=True)
            steps = LANDSCAPES[name][1]
            paths[name] = plot_landscape_trajectories(
                landscape, results, os.path.join(out, f"landscape_{name}.png"),
                title=f"The lectures' optimizers on {name} (optim.minimize, at most {steps} "
                      f"steps from {landscape.start})",
            )
    if out is not None:
        os.makedirs(out, exist_ok=True)
        steps = {name: h.step_loss for name, h in histories.items()}
        title = f"{dataset}, MLP {'-'.join(map(str, model.layer_sizes))}, batch {batch_size}"
        report["plots"] = [
            plot_loss_panels(steps, os.path.join(out, "loss_raw.png"),
                             title=f"Training loss per step: raw (dots), moving average (line); "
                                   f"{title}"),
            plot_step_losses(steps, os.path.join(out, "loss_moving_average.png"), smooth=True,
                             title=f"Training loss per step, moving average ({title})"),
            plot_epoch_curves(
                {name: h.train_loss for name, h in histories.items()},
                os.path.join(out, "loss_per_epoch.png"),
                val_loss={name: h.val_loss for name, h in histories.items()},
                val_metric=(
                    {name: h.val_metric for name, h in histories.items()}
                    if data.task != "regression" else None
                ),
                title=f"Loss and validation accuracy per epoch ({title})",
            ),
            *paths.values(),
        ]
    return report


def _format_row(row: dict[str, Any]) -> str:
    accuracy = row["test_accuracy"]
    shown = "-" if accuracy is None else f"{100 * accuracy:.2f}%"
    lr = row["hyperparameters"].get("learning_rate", float("nan"))
    return (
        f"{row['optimizer']:<10} {lr:>8g} {row['final_train_loss']:>12.5f} {shown:>9} "
        f"{row['seconds']:>8.2f} {row['compile_seconds']:>8.2f}"
    )


def format_table(report: dict[str, Any]) -> str:
    """The report's table as aligned text."""
    header = (
        f"{'optimizer':<10} {'lr':>8} {'train loss':>12} {'test acc':>9} {'seconds':>8} "
        f"{'compile':>8}"
    )
    lines = [header, "-" * len(header)]
    lines += [_format_row(row) for row in report["results"]]
    return "\n".join(lines)


def format_landscape_table(report: dict[str, Any]) -> str:
    """The report's landscape runs as aligned text."""
    header = (
        f"{'landscape':<18} {'optimizer':<10} {'lr':>8} {'steps':>6} {'f - f*':>10} "
        f"{'|x - x*|':>10}  stopped"
    )
    lines = [header, "-" * len(header)]
    for row in report["landscapes"]:
        lr = row["hyperparameters"].get("learning_rate", float("nan"))
        lines.append(
            f"{row['landscape']:<18} {row['optimizer']:<10} {lr:>8g} {row['steps']:>6d} "
            f"{row['gap']:>10.3g} {row['distance_to_minimum']:>10.3g}  {row['reason']}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m nets.compare",
        description="Train one MLP with each optimizer of the lectures and compare them.",
    )
    parser.add_argument("--dataset", default="digits", choices=sorted(data_lib.DATASETS))
    parser.add_argument(
        "--optimizers", default=",".join(OPTIMIZERS),
        help=f"comma-separated names among {','.join(OPTIMIZERS)} (default: all)",
    )
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hidden", default="256,256",
                        help="hidden layer widths, comma-separated (default: 256,256)")
    parser.add_argument("--out", default="compare-out", help="directory for the PNG plots")
    parser.add_argument("--json", metavar="PATH", help="write the table as JSON to PATH")
    parser.add_argument("--progress", action="store_true", help="show a progress bar per run")
    parser.add_argument("--no-landscapes", action="store_true",
                        help="skip the runs on the landscapes (lecture_quadratic, rosenbrock) "
                             "and their plots")
    parser.add_argument("--jobs", type=int, default=None,
                        help="threads compiling the optimizers (default: one per CPU)")
    args = parser.parse_args(argv)

    names = [n.strip() for n in args.optimizers.split(",") if n.strip()]
    unknown = [n for n in names if n not in OPTIMIZERS]
    if unknown or not names:
        parser.error(f"unknown optimizers {unknown}; choose from {','.join(OPTIMIZERS)}")
    try:
        hidden = tuple(int(h) for h in args.hidden.split(",") if h.strip())
    except ValueError:
        parser.error(f"--hidden must be comma-separated integers, got {args.hidden!r}")

    start = time.perf_counter()
    print(f"{args.dataset}: MLP with hidden layers {list(hidden)}, {args.epochs} epochs, "
          f"batch size {args.batch_size}, seed {args.seed}")
    header = format_table({"results": []})
    print(header)
    report = run(
        dataset=args.dataset, optimizers=names, epochs=args.epochs,
        batch_size=args.batch_size, seed=args.seed, hidden=hidden, out=args.out,
        progress=args.progress, jobs=args.jobs,
        landscapes=() if args.no_landscapes else tuple(LANDSCAPES),
    )
    report["total_seconds"] = time.perf_counter() - start
    if report["landscapes"]:
        shown = ", ".join(dict.fromkeys(row["landscape"] for row in report["landscapes"]))
        print(f"\nthe same optimizers on {shown} (optim.minimize from the customary start)")
        print(format_landscape_table(report))
    for path in report["plots"]:
        print(f"wrote {path}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
        print(f"wrote {args.json}")
    print(f"total {report['total_seconds']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
