"""The statistics of a comparison over seeds: mean, spread, a 95% interval, ties with the best.

    summary = nets.statistics.summarize([0.972, 0.966, 0.975])   # mean, std, ci95, n
    nets.statistics.welch_p_value([0.97, 0.98, 0.975], [0.95, 0.96, 0.955])

With a handful of seeds the interval is Student's t interval, `mean +- t(0.975, n - 1) s /
sqrt(n)` (s the sample standard deviation, ddof 1), and two optimizers are told apart by
Welch's t-test (unequal variances, two-sided): a p-value of at least `alpha` (5%) means the
seeds do not separate them, they are tied. Both come from `scipy.stats`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from scipy import stats


class Summary(NamedTuple):
    """The mean, the sample standard deviation (ddof 1), Student's 95% interval, and n."""

    mean: float
    std: float
    ci95: tuple[float, float]
    n: int


def summarize(values: Sequence[float]) -> Summary:
    """Mean, std and a 95% t-interval of `values` (at least two, all finite)."""
    x = np.asarray(values, np.float64)
    if x.ndim != 1 or x.size < 2:
        raise ValueError(f"a 95% interval needs at least two values, got {list(x.ravel())}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"values must be finite, got {list(x)}")
    mean, std = float(x.mean()), float(x.std(ddof=1))
    half = float(stats.t.ppf(0.975, x.size - 1)) * std / math.sqrt(x.size)
    return Summary(mean, std, (mean - half, mean + half), int(x.size))


def welch_p_value(a: Sequence[float], b: Sequence[float]) -> float:
    """The two-sided p-value of Welch's t-test that `a` and `b` have the same mean.

    Two groups without spread are equal (p = 1) when their means are, and apart (p = 0) when
    they are not (the test statistic is undefined there).
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.size < 2 or b.size < 2:
        raise ValueError("Welch's t-test needs at least two values on each side")
    if np.ptp(a) == 0 and np.ptp(b) == 0:
        return 1.0 if a[0] == b[0] else 0.0
    # From the summary statistics: seeds that agree exactly (a spread of 0) are exact, which
    # `ttest_ind` would warn about as a "catastrophic cancellation".
    return float(stats.ttest_ind_from_stats(
        a.mean(), a.std(ddof=1), a.size, b.mean(), b.std(ddof=1), b.size, equal_var=False
    ).pvalue)
