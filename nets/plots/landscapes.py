"""Optimizer paths on the contours of a 2-D landscape, and their values against the step.

`plot_landscape_trajectories` writes a PNG; the `draw_*` functions draw the same into given
matplotlib axes (e.g. in a notebook).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from nets.plots.style import pyplot, style


def _iterates(run: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """The iterates `(steps + 1, 2)` of a run and its values (None if not recorded).

    A run is a `MinimizeResult` made with `return_trajectory=True`, its `Trajectory`, or an
    array of points. The NaN rows after the last step of `minimize`'s buffers are dropped.
    """
    trajectory = getattr(run, "trajectory", run)
    if trajectory is None:
        raise ValueError("the run has no trajectory: call optim.minimize(..., "
                         "return_trajectory=True)")
    if hasattr(trajectory, "params") and hasattr(trajectory, "values"):
        points = np.asarray(trajectory.params, np.float64)
        values = np.asarray(trajectory.values, np.float64)
    else:
        points, values = np.asarray(trajectory, np.float64), None
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"a trajectory must have shape (steps + 1, 2), got {points.shape}")
    steps = getattr(run, "num_steps", None)
    if steps is not None:
        # Rows 0..num_steps are the run (the last may be the non-finite point that stopped a
        # divergent run); the rest of minimize's buffer is NaN filler.
        keep = int(steps) + 1
    else:
        # A bare Trajectory: its filler is the trailing rows that are NaN throughout.
        filler = np.all(np.isnan(points), axis=1)
        if values is not None:
            filler &= np.isnan(values)
        keep = len(points) - int(np.argmin(filler[::-1])) if not filler.all() else 0
    points = points[:keep]
    values = None if values is None else values[:keep]
    return points, values


class _Path(NamedTuple):
    points: np.ndarray  # the finite iterates
    values: np.ndarray  # f at each of them
    steps: int  # updates made
    diverged: bool


def _paths(landscape: Any, runs: Mapping[str, Any]) -> dict[str, _Path]:
    paths = {}
    for name, run in runs.items():
        points, values = _iterates(run)
        finite = np.all(np.isfinite(points), axis=1)
        if values is not None:
            finite &= np.isfinite(values)
        last = len(points) if finite.all() else int(np.argmin(finite))
        shown = points[:last]
        if values is None:
            values = (np.asarray(jax.vmap(landscape.fn)(jnp.asarray(shown, jnp.float32)))
                      if len(shown) else np.zeros(0))
        paths[name] = _Path(shown, np.asarray(values[:last], np.float64), len(points) - 1,
                            last < len(points))
    return paths


def _check_2d(landscape: Any) -> None:
    if getattr(landscape, "dim", None) != 2 or not hasattr(landscape, "grid"):
        raise ValueError(f"needs a 2-D optim.landscapes Landscape, got "
                         f"{getattr(landscape, 'name', landscape)!r}")


def draw_landscape_trajectories(
    ax: Any,
    landscape: Any,
    runs: Mapping[str, Any] | None = None,
    *,
    resolution: int = 200,
    num_levels: int = 25,
    colorbar: bool = True,
    legend: bool = True,
    colors: Sequence[str] | None = None,
    contour_lines: bool = True,
) -> None:
    """Draw the contours of a 2-D `optim.landscapes` function over its domain on the
    matplotlib axes `ax`, with each run's path on top.

    `runs` maps a label to a `MinimizeResult` made with `return_trajectory=True` (or its
    `Trajectory`, or an array of points of shape `(steps + 1, 2)`), typically each optimizer
    started from `landscape.start`; run i is drawn in `colors[i]` (default `C{i}`). The start
    is a black dot, the global minima gold stars, saddle points black crosses. Contours are
    spaced geometrically in `f - minimum_value` when the minimum is known (so the floor of a valley
    shows), linearly in `f` otherwise. Each path ends in a square; a run that diverged is
    labelled so and ends in a cross at its last finite point; paths leaving the domain are
    clipped; each path has its own dash pattern too, and the legend goes under the axes, where
    it hides nothing. `contour_lines=False` leaves out the lines between the shaded bands (many
    small panels compress to far smaller PNGs without them). Uses only `ax` and its figure (no
    pyplot state), so it draws into notebooks too.
    """
    from matplotlib.colors import LogNorm

    _check_2d(landscape)
    runs = runs or {}
    X, Y, Z = landscape.grid(resolution)
    floor = landscape.minimum_value
    if floor is not None:
        gap = np.maximum(Z - floor, 0.0)
        positive = gap[gap > 0]
        low = max(float(np.percentile(positive, 0.5)), float(positive.max()) * 1e-6)
        levels = np.geomspace(low, float(positive.max()), num_levels)
        # Bands without antialiasing: their edges would otherwise be soft seams that bloat PNGs.
        filled = ax.contourf(X, Y, np.maximum(gap, low), levels=levels, norm=LogNorm(),
                             cmap="Greys_r", alpha=0.4, extend="both", antialiased=False)
        if contour_lines:
            ax.contour(X, Y, gap, levels=levels, norm=LogNorm(), colors="0.45",
                       linewidths=0.4)
        label = "f - f*" if floor == 0 else f"f - f*  (f* = {floor:g})"
    else:
        filled = ax.contourf(X, Y, Z, levels=num_levels, cmap="Greys_r", alpha=0.4,
                             antialiased=False)
        if contour_lines:
            ax.contour(X, Y, Z, levels=num_levels, colors="0.45", linewidths=0.4)
        label = "f"
    if colorbar:
        bar = ax.figure.colorbar(filled, ax=ax, shrink=0.85, pad=0.02, format="%.2g")
        bar.ax.minorticks_off()
        bar.ax.set_title(label, fontsize=9)

    for i, (name, path) in enumerate(_paths(landscape, runs).items()):
        # Earlier paths drawn wider, so that a later one on top of them leaves them visible.
        width = 1.3 + 0.35 * (len(runs) - 1 - i)
        tag = (f"diverged at step {len(path.points)}" if path.diverged
               else f"{path.steps} steps")
        color = colors[i] if colors is not None else f"C{i % 10}"
        points = path.points
        # A dash pattern of its own too: paths that coincide (sgd, momentum and Nesterov often
        # share their first steps) stay told apart.
        ax.plot(points[:, 0], points[:, 1], color=color, linewidth=width, alpha=0.9,
                linestyle=style(i)["linestyle"], marker="o",
                markersize=2.5 if len(points) <= 300 else 0, label=f"{name} ({tag})")
        if len(points):
            ax.plot(*points[-1], marker="X" if path.diverged else "s",
                    markersize=9 if path.diverged else 6, color=color, markeredgecolor="black",
                    linestyle="none")

    (x0, x1), (y0, y1) = landscape.domain
    for j, point in enumerate(landscape.saddle_points):
        ax.plot(*point, marker="X", markersize=11, color="black", linestyle="none",
                label="saddle point" if j == 0 else None)
    for j, point in enumerate(landscape.minima):
        ax.plot(*point, marker="*", markersize=17, color="gold", markeredgecolor="black",
                linestyle="none", label="minimum" if j == 0 else None)
    if landscape.start is not None:
        ax.plot(*landscape.start, marker="o", markersize=8, color="black", linestyle="none",
                label="start")
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    if 1 / 3 <= (y1 - y0) / (x1 - x0) <= 3:
        ax.set_aspect("equal")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_title(f"{landscape.name}: f = {landscape.formula}", fontsize=10)
    if legend:
        _legend_below(ax)


def _legend_below(ax: Any) -> None:
    """The legend under the axes, outside them: inside, it would cover part of the landscape
    (Rosenbrock's valley fills the plot from corner to corner)."""
    count = len(ax.get_legend_handles_labels()[1])
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.17), ncol=min(3, max(1, count)),
              fontsize=8, frameon=False)


def draw_value_curves(
    ax: Any,
    landscape: Any,
    runs: Mapping[str, Any],
    *,
    legend: bool = True,
    colors: Sequence[str] | None = None,
) -> None:
    """Draw `f(x_t) - f*` against the step t of each run on a log scale (`f(x_t)` on a
    symmetric log scale when the landscape's minimum is unknown) on the axes `ax`; runs as in
    `draw_landscape_trajectories`, in the same colors and dash patterns."""
    floor = landscape.minimum_value
    paths = _paths(landscape, runs)
    tops = []
    for i, (name, path) in enumerate(paths.items()):
        shown = path.values - floor if floor is not None else path.values
        look = style(i)
        if colors is not None:
            look["color"] = colors[i]
        # Markers at staggered steps, so that curves lying on each other keep theirs visible.
        every = max(1, len(shown) // 8)
        ax.plot(np.arange(len(shown)), shown, linewidth=1.4, label=name, markersize=4,
                markevery=(i * every // max(1, len(paths)), every), **look)
        tops.append(np.max(shown, initial=0.0))
    if floor is not None:
        ax.set_yscale("log")
        # Twelve decades are plenty; below them, float32 rounding and underflow (an exact 0).
        ax.set_ylim(bottom=max(ax.get_ylim()[0], 1e-12 * max(tops, default=1.0)))
        ax.set_ylabel("f(x_t) - f*" if floor == 0 else f"f(x_t) - f*  (f* = {floor:g})")
    else:
        # Unbounded below (a saddle): symmetric log, linear within 1% of the largest start.
        starts = [abs(path.values[0]) for path in paths.values() if len(path.values)]
        threshold = max(1e-3, 1e-2 * max(starts, default=1.0))
        ax.set_yscale("symlog", linthresh=threshold)
        _symlog_ticks(ax, threshold, max(tops, default=1.0),
                      max((-np.min(p.values, initial=0.0) for p in paths.values()), default=0.0))
        ax.set_ylabel("f(x_t)")
    ax.set_xlabel("step t")
    ax.grid(True, alpha=0.3)
    ax.minorticks_off()
    if legend:
        _legend_below(ax)


def _symlog_ticks(ax: Any, threshold: float, top: float, bottom: float) -> None:
    """Ticks at 0 and at +-10^k from ten times the linear threshold outwards (every other
    decade when there are many): the default ones at +-threshold crowd the label of 0."""
    from matplotlib.ticker import FixedLocator, NullLocator

    low = int(np.ceil(np.log10(10 * threshold)))
    ticks = [0.0]
    for extent, sign in ((top, 1.0), (bottom, -1.0)):
        if extent > 10 * threshold:
            high = int(np.ceil(np.log10(extent)))
            stride = 1 if high - low <= 5 else 2
            ticks += [sign * 10.0**k for k in range(low, high + 1, stride)]
    ax.yaxis.set_major_locator(FixedLocator(sorted(ticks)))
    ax.yaxis.set_minor_locator(NullLocator())


def plot_landscape_trajectories(
    landscape: Any,
    runs: Mapping[str, Any],
    path: str | os.PathLike,
    *,
    values: bool = True,
    resolution: int = 200,
    num_levels: int = 25,
    title: str | None = None,
) -> str:
    """The contours of a 2-D `optim.landscapes` function with each run's path on top
    (`draw_landscape_trajectories`) and, with `values`, a second panel of each run's value
    against the step (`draw_value_curves`); writes `path`.

        runs = {name: optim.minimize(bowl.fn, jnp.array(bowl.start), tx, max_steps=100,
                                     return_trajectory=True) for name, tx in optimizers.items()}
        nets.plot_landscape_trajectories(bowl, runs, "bowl.png")
    """
    plt = pyplot()
    _check_2d(landscape)
    panels = 2 if values else 1
    fig, axes = plt.subplots(1, panels, figsize=(6.6 * panels, 6.4), dpi=110, squeeze=False,
                             width_ratios=[1.15, 1.0] if values else None)
    draw_landscape_trajectories(axes[0, 0], landscape, runs, resolution=resolution,
                                num_levels=num_levels)
    if values:
        draw_value_curves(axes[0, 1], landscape, runs)
        axes[0, 1].set_title("value against step", fontsize=10)
    fig.suptitle(title or f"Optimizer paths on {landscape.name} from {landscape.start}")
    # Fixed margins: tight_layout would measure every tick label of the log axes, which costs
    # more than the rest of the figure. The bottom leaves room for the legend under the contours.
    fig.subplots_adjust(left=0.06 * 2 / panels, right=0.98, bottom=0.24, top=0.9, wspace=0.22)
    fig.savefig(path)
    plt.close(fig)
    return str(path)
