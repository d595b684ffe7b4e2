"""The figures hide no data: legends outside the axes they describe, every run told apart by
its line style as well as its colour, and readable symmetric-log ticks."""

import matplotlib

matplotlib.use("Agg")

import jax.numpy as jnp  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import nets  # noqa: E402
import optim  # noqa: E402


def _runs(landscape, steps):
    x0 = jnp.asarray(landscape.start, jnp.float32)
    optimizers = {"sgd": optim.sgd(0.05), "momentum": optim.sgd(0.02, momentum=0.9),
                  "nesterov": optim.sgd(0.02, momentum=0.9, nesterov=True)}
    return {name: optim.minimize(landscape.fn, x0, tx, max_steps=steps, return_trajectory=True)
            for name, tx in optimizers.items()}


def _outside(ax):
    fig = ax.figure
    fig.canvas.draw()
    legend = ax.get_legend().get_window_extent()
    return not legend.overlaps(ax.get_window_extent())


def test_landscape_legends_leave_the_axes_and_runs_differ_in_dashes():
    landscape = optim.landscapes.rosenbrock(2)
    runs = _runs(landscape, 30)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 5))
    nets.draw_landscape_trajectories(left, landscape, runs, resolution=40)
    nets.draw_value_curves(right, landscape, runs)
    assert _outside(left) and _outside(right)
    for ax in (left, right):
        styles = {line.get_label(): line.get_linestyle() for line in ax.get_lines()
                  if line.get_label().split(" ")[0] in runs}
        assert len(set(styles.values())) == len(runs), styles
    plt.close(fig)


def test_symlog_ticks_leave_room_around_zero():
    landscape = optim.landscapes.saddle()
    runs = _runs(landscape, 40)
    fig, ax = plt.subplots()
    nets.draw_value_curves(ax, landscape, runs)
    ticks = np.asarray(ax.get_yticks())
    threshold = ax.yaxis.get_transform().linthresh
    assert 0.0 in ticks
    # No tick between 0 and ten times the linear threshold: their labels would overlap 0's.
    assert not np.any((np.abs(ticks) > 0) & (np.abs(ticks) < 10 * threshold)), ticks
    assert ticks.min() < 0 < ticks.max()
    plt.close(fig)
