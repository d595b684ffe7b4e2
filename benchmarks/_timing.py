"""Timing helpers for the benchmarks: compile once, run many, report medians and spreads."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jax
import numpy as np


def block(tree: Any) -> Any:
    return jax.block_until_ready(tree)


def load_average() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:  # pragma: no cover - not on every platform
        return float("nan")


@dataclass
class Timings:
    """Seconds per call, grouped by repeat."""

    repeats: list[list[float]] = field(default_factory=list)

    def add_repeat(self, seconds: list[float]) -> None:
        self.repeats.append(list(seconds))

    @property
    def all(self) -> list[float]:
        return [t for rep in self.repeats for t in rep]

    @property
    def median(self) -> float:
        return statistics.median(self.all)

    def summary(self) -> dict[str, Any]:
        values = np.asarray(self.all)
        medians = [statistics.median(rep) for rep in self.repeats]
        return {
            "median_s": float(np.median(values)),
            "p10_s": float(np.percentile(values, 10)),
            "p90_s": float(np.percentile(values, 90)),
            "min_s": float(values.min()),
            "repeat_medians_s": medians,
            "calls": int(values.size),
        }


def time_calls(fn: Callable[[Any], Any], carry: Any, steps: int) -> tuple[list[float], Any]:
    """Call `carry = fn(carry)` `steps` times, timing each call to completion."""
    seconds = []
    for _ in range(steps):
        start = time.perf_counter()
        carry = block(fn(carry))
        seconds.append(time.perf_counter() - start)
    return seconds, carry


def memory_of(compiled: Any) -> dict[str, int] | None:
    """Argument, output, aliased and temporary bytes of a compiled program, and its peak."""
    try:
        stats = compiled.memory_analysis()
    except Exception:  # noqa: BLE001 - not every backend reports it
        return None
    if stats is None:
        return None
    out = {
        "arguments": int(stats.argument_size_in_bytes),
        "outputs": int(stats.output_size_in_bytes),
        "aliased": int(stats.alias_size_in_bytes),
        "temporaries": int(stats.temp_size_in_bytes),
    }
    # Live at once: the inputs, the outputs not written over donated inputs, the scratch.
    out["peak"] = out["arguments"] + out["outputs"] - out["aliased"] + out["temporaries"]
    return out


def bytes_accessed(compiled: Any) -> float | None:
    """The bytes a compiled program reads and writes, by XLA's own cost analysis (or None)."""
    try:
        analysis = compiled.cost_analysis()
    except Exception:  # noqa: BLE001 - not every backend reports it
        return None
    if isinstance(analysis, (list, tuple)):
        analysis = analysis[0] if analysis else None
    if not analysis or "bytes accessed" not in analysis:
        return None
    return float(analysis["bytes accessed"])


def fmt_ms(seconds: float) -> str:
    return f"{1e3 * seconds:.2f}"
