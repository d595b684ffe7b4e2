"""Figures as PNG files (matplotlib's Agg backend, no display needed).

- `curves`: per-step and per-epoch loss curves, moving averages;
- `history`: one run's `fit` history on one figure (`plot_history`);
- `landscapes`: optimizer paths on a 2-D landscape's contours;
- `comparison`: a comparison's tuning curves, curves with bands over seeds, test metrics;
- `style`: the backend and a distinct look per run.

Everything public is re-exported by `nets`; import it from there.
"""
