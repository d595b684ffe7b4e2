"""One run's history on one figure: `plot_history(result.history)`.

Panels: the training and validation loss per epoch, the metric per epoch, the learning rate
per epoch (when the optimizer exposes one), and the per-step minibatch loss drawn raw and as
its moving average (the lectures' way to read a noisy curve).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from nets.plots.curves import moving_average
from nets.plots.style import pyplot


def _finite(values: Any) -> bool:
    values = np.asarray(values, np.float64)
    return values.size > 0 and bool(np.isfinite(values).any())


def _epoch_panel(ax: Any, epochs: np.ndarray, curves: dict[str, Any], title: str,
                 ylabel: str, *, log: bool = False) -> None:
    from matplotlib.ticker import MaxNLocator

    for label, values in curves.items():
        ax.plot(epochs, values, marker="o", markersize=3, label=label)
    if log and all(np.nanmin(np.asarray(v, np.float64)) > 0 for v in curves.values()):
        ax.set_yscale("log")
    ax.set_title(title)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=9)


def plot_history(history: Any, path: str | os.PathLike | None = None, *,
                 window: int | None = None, title: str | None = None) -> Any:
    """Draw a `fit` history (a `History`, or a `FitResult`) and return the matplotlib figure;
    with `path`, also write it there as a PNG.

    Panels, each with a title, labelled axes and a legend: "Loss per epoch" (train, and
    validation when there is a split), "<metric> per epoch" (when there is a metric), "Learning
    rate" (when the optimizer exposes one, e.g. under `optim.inject_hyperparams`), and "Loss per
    step": each minibatch's loss and its moving average over `window` steps (default: a
    twentieth of the steps).
    """
    history = getattr(history, "history", history)
    plt = pyplot()
    epochs = np.arange(1, len(history.train_loss) + 1)
    panels = ["loss"]
    metric = history.metric_name
    if metric is not None and _finite(history.train_metric + history.val_metric):
        panels.append("metric")
    if _finite(history.learning_rate):
        panels.append("learning_rate")
    panels.append("steps")
    columns = 2 if len(panels) > 1 else 1
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(6.5 * columns, 4 * rows), dpi=100,
                             squeeze=False)
    for ax, panel in zip(axes.ravel(), panels, strict=False):
        if panel == "loss":
            curves = {"train": history.train_loss}
            if _finite(history.val_loss):
                curves["validation"] = history.val_loss
            _epoch_panel(ax, epochs, curves, "Loss per epoch", "loss (whole split)", log=True)
        elif panel == "metric":
            curves = {"train": history.train_metric}
            if _finite(history.val_metric):
                curves["validation"] = history.val_metric
            _epoch_panel(ax, epochs, curves, f"{metric.capitalize()} per epoch", metric)
        elif panel == "learning_rate":
            _epoch_panel(ax, epochs, {"at the epoch's last step": history.learning_rate},
                         "Learning rate", "learning rate")
        else:
            _step_panel(ax, np.asarray(history.step_loss, np.float64), window)
    for ax in axes.ravel()[len(panels):]:
        ax.axis("off")
    fig.suptitle(title or f"Training history: {len(epochs)} epochs, "
                 f"{len(history.step_loss)} steps")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path)
    plt.close(fig)  # still drawable and saveable; pyplot stops holding it
    return fig


def _step_panel(ax: Any, losses: np.ndarray, window: int | None) -> None:
    window = window or max(1, len(losses) // 20)
    steps = np.arange(1, len(losses) + 1)
    ax.plot(steps, losses, linewidth=0.6, alpha=0.5, label="minibatch loss")
    at, averaged = moving_average(losses, window)
    ax.plot(at + 1, averaged, color="black", linewidth=1.5,
            label=f"moving average ({window} steps)")
    if losses.size and np.nanmin(losses) > 0:
        ax.set_yscale("log")
    ax.set_title("Loss per step")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (minibatch)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=9)
