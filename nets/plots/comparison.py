"""The pictures of a comparison (`nets.compare_optimizers`): tuning curves, training curves at
the chosen rates with a band over the seeds, and the test metric of every seed."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from nets.plots.style import pyplot, style


def _percent(comparison: Any) -> float:
    return 100.0 if comparison.higher_is_better else 1.0


def _label(comparison: Any) -> str:
    return f"{comparison.metric}{' (%)' if comparison.higher_is_better else ''}"


def _overlap_safe(look: dict[str, Any], index: int, count: int) -> dict[str, Any]:
    """`look` with a line the wider the earlier it is drawn: lines that coincide (sgd, momentum
    and Nesterov often do) then show as nested stripes instead of the last one alone."""
    return {**look, "linewidth": 1.2 + 0.45 * (count - 1 - index)}


def _dodge(index: int, count: int) -> float:
    """A factor that shifts optimizer `index`'s points along a log axis by a few percent, so
    that equal values at equal rates do not hide each other's markers."""
    return 10.0 ** (0.025 * (index - (count - 1) / 2))


def _legend_outside(ax: Any) -> None:
    """The legend to the right of the axes, where it hides no curve."""
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0,
              framealpha=0.9)


def draw_tuning_curves(comparison: Any, ax: Any) -> None:
    """Draw into `ax` the validation metric after the last epoch against the learning rate,
    one line per optimizer (the mean over seeds) with a band from the lowest to the highest
    seed; the chosen rate is ringed. Rates where a seed diverged are left out. Each optimizer's
    rates are shifted by a few percent (and earlier lines drawn wider) so that none hides
    another; the legend is right of the axes."""
    scale = _percent(comparison)
    count = len(comparison.outcomes)
    for i, outcome in enumerate(comparison.outcomes):
        look = _overlap_safe(style(i), i, count)
        grid = [p.learning_rate for p in outcome.grid]
        rates = np.asarray(grid) * _dodge(i, count)
        values = scale * np.asarray(outcome.val_by_rate, np.float64)
        ok = np.asarray([p.diverged == 0 for p in outcome.grid]) & np.all(
            np.isfinite(values), axis=1)
        if not ok.any():
            continue
        mean = values[ok].mean(axis=1)
        ax.plot(rates[ok], mean, label=outcome.optimizer, markersize=4, **look)
        ax.fill_between(rates[ok], values[ok].min(axis=1), values[ok].max(axis=1),
                        color=look["color"], alpha=0.15, linewidth=0)
        if outcome.learning_rate is not None:
            chosen = grid.index(outcome.learning_rate)
            ax.plot(rates[chosen], values[chosen].mean(), marker="o", markersize=11,
                    markerfacecolor="none", markeredgecolor=look["color"], linestyle="none")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel(f"validation {_label(comparison)} after the last epoch")
    if comparison.higher_is_better:
        low = min((np.nanmin(scale * o.val_curve[:, -1]) for o in comparison.outcomes
                   if o.summary is not None), default=0.0)
        ax.set_ylim(max(0.0, low - 15.0), 100.5)
    else:
        ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)
    _legend_outside(ax)


def plot_tuning_curves(comparison: Any, path: str | os.PathLike, *, title: str | None = None
                       ) -> str:
    """`draw_tuning_curves` into a new figure; writes `path`."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    draw_tuning_curves(comparison, ax)
    seeds = len(comparison.seeds)
    ax.set_title(title or f"Tuning curves: mean over {seeds} seeds, band from min to max; "
                          "ringed: the chosen rate", fontsize=10)
    return _save(plt, fig, path)


def _band(ax, x, runs, look, label, index, count):
    runs = np.asarray(runs, np.float64)
    # Markers at epochs staggered by optimizer, so that curves lying on each other keep theirs.
    every = max(1, len(x) // 8)
    ax.plot(x, runs.mean(axis=0), label=label, markersize=4,
            markevery=(index * every // max(1, count) % every, every), **look)
    ax.fill_between(x, runs.min(axis=0), runs.max(axis=0), color=look["color"], alpha=0.15,
                    linewidth=0)


def draw_comparison_curves(comparison: Any, axes: Any) -> None:
    """Draw into two axes, at each optimizer's chosen rate: the mean minibatch loss of each
    epoch (log scale) and the validation metric per epoch, as the mean over seeds with a
    min-max band."""
    scale = _percent(comparison)
    count = len(comparison.outcomes)
    for i, outcome in enumerate(comparison.outcomes):
        if outcome.summary is None:
            continue
        look = _overlap_safe(style(i), i, count)
        epochs = np.arange(1, outcome.epoch_loss.shape[1] + 1)
        label = f"{outcome.optimizer} ({outcome.learning_rate:.3g})"
        _band(axes[0], epochs, outcome.epoch_loss, look, label, i, count)
        _band(axes[1], epochs, scale * outcome.val_curve, look, label, i, count)
    axes[0].set_yscale("log")
    axes[0].set_ylabel("training loss (mean over the epoch's minibatches)")
    axes[1].set_ylabel(f"validation {_label(comparison)}")
    if comparison.target is not None:
        axes[1].axhline(scale * comparison.target, color="gray", linewidth=1, linestyle=":",
                        label="target")
    if comparison.higher_is_better:
        axes[1].set_ylim(max(0.0, axes[1].get_ylim()[0]), 100.5)
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(True, which="both", alpha=0.3)
    _legend_outside(axes[1])


def plot_comparison_curves(comparison: Any, path: str | os.PathLike, *,
                           title: str | None = None) -> str:
    """`draw_comparison_curves` into a new figure; writes `path`."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8), dpi=110)
    draw_comparison_curves(comparison, axes)
    fig.suptitle(title or f"At the chosen learning rates: mean over {len(comparison.seeds)} "
                          "seeds, band from min to max", fontsize=11)
    return _save(plt, fig, path)


def draw_test_metric(comparison: Any, ax: Any) -> None:
    """Draw into `ax` the test metric of every seed (dots) per optimizer, with the mean and its
    95% interval (bar); optimizers tied with the best are drawn filled, the others hollow."""
    scale = _percent(comparison)
    outcomes = [o for o in comparison.outcomes if o.summary is not None]
    for i, outcome in enumerate(outcomes):
        look = style(comparison.outcomes.index(outcome))
        s = outcome.summary
        jitter = np.linspace(-0.12, 0.12, len(outcome.test))
        ax.scatter(i + jitter, scale * np.asarray(outcome.test), s=18, color=look["color"],
                   alpha=0.7, zorder=3)
        ax.errorbar(i + 0.3, scale * s.mean,
                    yerr=[[scale * (s.mean - s.ci95[0])], [scale * (s.ci95[1] - s.mean)]],
                    fmt="o", color=look["color"], capsize=4, markersize=7,
                    markerfacecolor=look["color"] if outcome.tied_with_best else "white")
    ax.set_xticks(range(len(outcomes)), [o.optimizer for o in outcomes], rotation=30,
                  ha="right")
    ax.set_ylabel(f"test {_label(comparison)}")
    ax.grid(True, axis="y", alpha=0.3)


def plot_test_metric(comparison: Any, path: str | os.PathLike, *, title: str | None = None
                     ) -> str:
    """`draw_test_metric` into a new figure; writes `path`."""
    plt = pyplot()
    shown = sum(o.summary is not None for o in comparison.outcomes)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * shown + 2), 4.8), dpi=110)
    draw_test_metric(comparison, ax)
    ax.set_title(title or f"Test {comparison.metric} per seed (dots), mean and 95% interval "
                          f"(bar); filled: tied with the best ({comparison.best})", fontsize=10)
    return _save(plt, fig, path)


def _save(plt: Any, fig: Any, path: str | os.PathLike) -> str:
    fig.tight_layout()
    fig.savefig(path, bbox_inches="tight")  # the legends outside the axes included
    plt.close(fig)
    return str(path)
