"""A comparison as a table to print and as JSON to keep."""

from __future__ import annotations

import math
from typing import Any


def _finite(value: Any) -> Any:
    """A JSON-safe number: NaN and infinities become None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _shown(comparison: Any, value: float) -> str:
    return f"{100 * value:.2f}" if comparison.higher_is_better else f"{value:.4g}"


def _median(values: list) -> float | None:
    reached = sorted(v for v in values if v is not None)
    if not reached:
        return None
    middle = len(reached) // 2
    return reached[middle] if len(reached) % 2 else (reached[middle - 1] + reached[middle]) / 2


def _to_target(comparison: Any, outcome: Any) -> tuple[str, str]:
    if comparison.target is None:
        return "n/a", "n/a"
    steps, seconds = _median(outcome.steps_to_target), _median(outcome.seconds_to_target)
    if steps is None:
        return "-", "-"
    reached = sum(s is not None for s in outcome.steps_to_target)
    count = "" if reached == len(outcome.seeds) else f" ({reached}/{len(outcome.seeds)})"
    return f"{steps:g}{count}", f"{seconds:.2f}"


def _edge(outcome: Any) -> str:
    """`^` when the chosen rate is the largest of its grid, `v` the smallest, else ``."""
    rates = [p.learning_rate for p in outcome.grid]
    if outcome.learning_rate is None or len(rates) < 2:
        return " "
    return "^" if outcome.learning_rate == max(rates) else (
        "v" if outcome.learning_rate == min(rates) else " ")


def format_table(comparison: Any) -> str:
    """One line per optimizer: the chosen learning rate (`^`/`v` when it is the largest or the
    smallest of its grid), the test metric's mean +- std over the seeds, its 95% interval,
    whether it is tied with the best, the median steps and seconds to the target (over the
    seeds that reached it; `(k/n)` when only k did)."""
    n = len(comparison.seeds)
    unit = "%" if comparison.higher_is_better else ""
    metric = f"test {comparison.metric} ({n} seeds)"
    target = "target" if comparison.target is None else (
        f"{_shown(comparison, comparison.target)}{unit}")
    header = (f"{'optimizer':<20} {'lr':>8}   {metric:<24} {'95% interval':<18} {'tied':<5} "
              f"{'steps to ' + target:>16} {'seconds':>8}")
    lines = [header, "-" * len(header)]
    for o in comparison.outcomes:
        steps, seconds = _to_target(comparison, o)
        if o.summary is None:
            lines.append(f"{o.optimizer:<20} {'-':>8}   diverged at every learning rate")
            continue
        s = o.summary
        mean = f"{_shown(comparison, s.mean)} ± {_shown(comparison, s.std)}{unit}"
        interval = f"[{_shown(comparison, s.ci95[0])}, {_shown(comparison, s.ci95[1])}]"
        tied = "best" if o.optimizer == comparison.best else ("yes" if o.tied_with_best else "no")
        lines.append(f"{o.optimizer:<20} {o.learning_rate:>8.3g}{_edge(o)}  {mean:<24} "
                     f"{interval:<18} {tied:<5} {steps:>16} {seconds:>8}")
    return "\n".join(lines)


def legend(comparison: Any) -> str:
    """What the table's numbers mean, in two sentences."""
    n, what = len(comparison.seeds), comparison.metric
    choice = comparison.settings["selection"]
    text = (
        f"Each learning rate chosen by the {choice} over {n} seeds "
        f"({', '.join(map(str, comparison.seeds))}); the test {what} is the mean ± std over "
        f"those seeds at that rate, the interval Student's 95% t-interval of the mean. "
        f"'tied': not separated from the best ({comparison.best}) by "
        f"{comparison.settings['test']} on the seeds' test {what}."
    )
    edges = [o.optimizer for o in comparison.outcomes if _edge(o) != " "]
    if edges:
        text += (f" ^ (v): the largest (smallest) rate of the grid was chosen, for "
                 f"{', '.join(edges)}; a wider --lr-range may find a better one.")
    return text


def to_json(comparison: Any) -> dict[str, Any]:
    """`{"results": [...], "metric": ..., "best": ..., "seeds": ..., "target": ..., ...}`; per
    optimizer `learning_rate`, `grid`, `seeds`, `test_<metric>` (per seed) with its `_mean`,
    `_std`, `_ci95`, `tied_with_best`, `p_value_vs_best`, `steps_to_target`,
    `seconds_to_target`, `seconds`, `compile_seconds`, `runs`."""
    m = comparison.metric
    results = []
    for o in comparison.outcomes:
        s = o.summary
        results.append({
            "optimizer": o.optimizer,
            "learning_rate": o.learning_rate,
            "grid": [
                {
                    "learning_rate": p.learning_rate,
                    f"val_{m}_mean": _finite(p.val_metric_mean),
                    f"val_{m}_std": _finite(p.val_metric_std),
                    "val_loss_mean": _finite(p.val_loss_mean),
                    "diverged_seeds": p.diverged,
                }
                for p in o.grid
            ],
            "seeds": list(o.seeds),
            f"test_{m}": [_finite(v) for v in o.test],
            f"test_{m}_mean": None if s is None else s.mean,
            f"test_{m}_std": None if s is None else s.std,
            f"test_{m}_ci95": None if s is None else list(s.ci95),
            "tied_with_best": bool(o.tied_with_best),
            "p_value_vs_best": o.p_value,
            "steps_to_target": list(o.steps_to_target),
            "seconds_to_target": [None if v is None else float(v) for v in o.seconds_to_target],
            "seconds": o.seconds,
            "compile_seconds": o.compile_seconds,
            "runs": o.runs,
        })
    return {
        "results": results,
        "metric": m,
        "higher_is_better": comparison.higher_is_better,
        "best": comparison.best,
        "seeds": list(comparison.seeds),
        "target": comparison.target,
        "settings": dict(comparison.settings),
    }
