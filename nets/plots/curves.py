"""Loss curves as PNG files (matplotlib, Agg backend: no display needed).

The lectures' advice on reading loss curves: per-step minibatch losses are noisy, so plot them
raw (as a scatter or thin line) and also as a moving average to see the trend.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np

from nets.plots.style import pyplot


def moving_average(values: Sequence[float], window: int) -> tuple[np.ndarray, np.ndarray]:
    """The trailing mean over `window` values: `(positions, averages)`.

    `averages[i]` is the mean of `values[positions[i] - window + 1 : positions[i] + 1]`, so
    each point sits at the last step it covers. A window longer than the series shrinks to
    its length.
    """
    values = np.asarray(values, np.float64)
    if window < 1:
        raise ValueError(f"window must be a positive integer, got {window!r}")
    window = max(1, min(int(window), len(values)))
    if len(values) == 0:
        return np.zeros(0, np.int64), np.zeros(0)
    cumulative = np.concatenate([[0.0], np.cumsum(values)])
    averages = (cumulative[window:] - cumulative[:-window]) / window
    return np.arange(window - 1, len(values)), averages


def plot_step_losses(
    curves: Mapping[str, Sequence[float]],
    path: str | os.PathLike,
    *,
    window: int | None = None,
    smooth: bool = False,
    title: str | None = None,
) -> str:
    """One line per run of the per-step training loss, on a log scale; writes `path`.

    With `smooth=True` each curve is its moving average over `window` steps (default: a
    twentieth of the longest run); otherwise the raw losses are drawn thin and translucent.
    """
    plt = pyplot()
    longest = max((len(v) for v in curves.values()), default=1)
    window = window or max(1, longest // 20)
    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    for i, (name, values) in enumerate(curves.items()):
        values = np.asarray(values, np.float64)
        color = f"C{i % 10}"
        if smooth:
            steps, averaged = moving_average(values, window)
            ax.plot(steps + 1, averaged, color=color, linewidth=1.8, label=name)
        else:
            ax.plot(np.arange(1, len(values) + 1), values, color=color, linewidth=0.6,
                    alpha=0.55, label=name)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    kind = f"moving average over {window} steps" if smooth else "raw, per minibatch"
    ax.set_ylabel("training loss")
    ax.set_title(title or f"Training loss ({kind})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper right", fontsize=9, ncol=2)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return str(path)


def plot_loss_panels(
    curves: Mapping[str, Sequence[float]],
    path: str | os.PathLike,
    *,
    window: int | None = None,
    title: str | None = None,
) -> str:
    """One panel per run: its raw per-step losses as dots and their moving average as a line,
    on shared log axes (the lectures' way to read a noisy curve); writes `path`."""
    plt = pyplot()
    names = list(curves)
    longest = max((len(v) for v in curves.values()), default=1)
    window = window or max(1, longest // 20)
    columns = min(4, max(1, len(names)))
    rows = -(-len(names) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.6 * columns, 2.9 * rows), dpi=110,
                             sharex=True, sharey=True, squeeze=False)
    for i, name in enumerate(names):
        ax = axes[i // columns, i % columns]
        values = np.asarray(curves[name], np.float64)
        color = f"C{i % 10}"
        ax.scatter(np.arange(1, len(values) + 1), values, s=4, color=color, alpha=0.5,
                   linewidths=0)
        steps, averaged = moving_average(values, window)
        ax.plot(steps + 1, averaged, color="black", linewidth=1.2)
        ax.set_title(name, fontsize=10)
        ax.set_yscale("log")
        ax.grid(True, which="major", alpha=0.3)
    for j in range(len(names), rows * columns):
        axes[j // columns, j % columns].axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("step")
    for ax in axes[:, 0]:
        ax.set_ylabel("training loss")
    fig.suptitle(title or f"Training loss per step (dots) and its {window}-step moving average")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return str(path)


def plot_epoch_curves(
    train_loss: Mapping[str, Sequence[float]],
    path: str | os.PathLike,
    *,
    val_loss: Mapping[str, Sequence[float]] | None = None,
    val_metric: Mapping[str, Sequence[float]] | None = None,
    metric_name: str = "accuracy",
    title: str | None = None,
) -> str:
    """Per-epoch training (solid) and validation (dashed) loss, and the validation metric in a
    second panel when given; writes `path`."""
    plt = pyplot()
    from matplotlib.ticker import MaxNLocator

    panels = 2 if val_metric else 1
    fig, axes = plt.subplots(1, panels, figsize=(7 * panels, 4.5), dpi=110, squeeze=False)
    ax = axes[0, 0]
    for i, (name, values) in enumerate(train_loss.items()):
        epochs = np.arange(1, len(values) + 1)
        ax.plot(epochs, values, color=f"C{i % 10}", marker="o", markersize=3, label=name)
        if val_loss and name in val_loss:
            ax.plot(epochs, val_loss[name], color=f"C{i % 10}", linestyle="--", linewidth=1)
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("loss (solid: train, dashed: validation)" if val_loss else "training loss")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=9, ncol=2)
    if val_metric:
        ax = axes[0, 1]
        for i, (name, values) in enumerate(val_metric.items()):
            ax.plot(np.arange(1, len(values) + 1), values, color=f"C{i % 10}", marker="o",
                    markersize=3, label=name)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(f"validation {metric_name}")
        ax.grid(True, alpha=0.3)
    fig.suptitle(title or "Loss per epoch")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return str(path)
