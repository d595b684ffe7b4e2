"""What every figure shares: matplotlib without a display, and a distinct look per run."""

from __future__ import annotations

from typing import Any

_LINESTYLES = ("-", "--", "-.", ":")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def pyplot() -> Any:
    """`matplotlib.pyplot` on the Agg backend (PNG files, no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def style(index: int) -> dict[str, Any]:
    """The colour, line style and marker of the `index`-th run: runs that overlap (sgd,
    momentum and Nesterov often do) stay told apart by their dashes and markers."""
    return {
        "color": f"C{index % 10}",
        "linestyle": _LINESTYLES[index % len(_LINESTYLES)],
        "marker": _MARKERS[index % len(_MARKERS)],
    }
