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
from nets.plots import plot_epoch_curves, plot_loss_panels, plot_step_losses
from nets.train import compile_fit, evaluate, fit

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
    log: Callable[[str], None] | None = print,
) -> dict[str, Any]:
    """Train the same MLP with each optimizer; return the report (what `--json` writes).

    Writes the plots into `out` (skipped when None). `log` receives each row as it is done.
    `jobs` threads compile the optimizers' programs (default: one per CPU). A row's `seconds`
    is its training and test evaluation after compilation; `compile_seconds` its compilation
    (wall time of its thread; the threads overlap).
    """
    for name in optimizers:
        if name not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {name!r}; choose from {', '.join(OPTIMIZERS)}")
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

    with ThreadPoolExecutor(jobs) as pool:
        compile_seconds = dict(zip(built, pool.map(compile_one, built), strict=True))
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
        "plots": [],
    }
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
    )
    report["total_seconds"] = time.perf_counter() - start
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
