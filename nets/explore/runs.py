"""The explorer's computation: a request's runs as `optim.minimize` trajectories.

    programs = Programs()
    answer = run_request({"landscape": "rosenbrock", "start": [-1.5, 2.0], "steps": 200,
                          "runs": [{"optimizer": "adam", "learning_rate": 0.05}]}, programs)
    answer["runs"][0]["points"], answer["runs"][0]["values"], answer["runs"][0]["diverged_at"]

Each (landscape, optimizer, steps) is one program: `jax.jit(jax.vmap(run))`, where `run`
builds the optimizer from its hyperparameters and calls `optim.minimize` with
`return_trajectory=True`. The start and the hyperparameters are the program's inputs, so a
new start or learning rate reuses the compiled program; the runs of one optimizer in a request
share one call (the vmapped axis). `Programs.compilations` counts the traces, which is what a
warm request must not add to.

A run diverges when its value or point becomes NaN or infinite (`optim.minimize` stops there)
or when it leaves the box of `BOUND` times the landscape's plotting domain (same centre): the
answer keeps the points before that step and names it in `diverged_at`.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import optim
from nets.explore.methods import LANDSCAPES, METHODS, Method
from optim.second_order.minimize import REASONS

__all__ = ["BOUND", "MAX_RUNS", "MAX_STEPS", "Programs", "RequestError", "run_request"]

MAX_STEPS = 5000
"""The most steps a request may ask for."""
MAX_RUNS = 16
"""The most runs in one request."""
BOUND = 10.0
"""A run that leaves the box of BOUND times the plotting domain (same centre) has diverged."""


class RequestError(ValueError):
    """A request the explorer cannot answer; the message says what to change."""


class Programs:
    """The compiled trajectory programs, one per (landscape, optimizer, steps)."""

    def __init__(self) -> None:
        self._programs: dict[tuple[str, str, int], Callable] = {}
        self._lock = threading.Lock()
        self.compilations = 0

    def _count(self) -> None:
        with self._lock:
            self.compilations += 1

    def program(self, landscape: str, method: str, steps: int) -> Callable:
        """`program(starts[B, 2], {name: values[B]}) -> (points, values, num_steps, codes)`."""
        key = (landscape, method, steps)
        with self._lock:
            if key not in self._programs:
                self._programs[key] = jax.jit(jax.vmap(
                    _trajectory(LANDSCAPES[landscape].fn, METHODS[method], steps, self._count)
                ))
            return self._programs[key]

    def __len__(self) -> int:
        return len(self._programs)


def _trajectory(fn: Callable, method: Method, steps: int, on_trace: Callable[[], None]):
    def run(start, hyperparameters):
        on_trace()  # runs while tracing only: one call per compilation
        result = optim.minimize(fn, start, method.build(**hyperparameters), max_steps=steps,
                                return_trajectory=True)
        traj = result.trajectory
        return traj.params, traj.values, result.num_steps, result.reason_code

    return run


# --- checking a request ------------------------------------------------------------------------


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RequestError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise RequestError(f"{name} must be finite, got {value!r}")
    return float(value)


def _landscape(payload: dict) -> str:
    name = payload.get("landscape")
    if name not in LANDSCAPES:
        raise RequestError(f"unknown landscape {name!r}; choose one of {', '.join(LANDSCAPES)}")
    return name


def _start(payload: dict, name: str) -> tuple[float, float]:
    land = LANDSCAPES[name]
    start = payload.get("start", land.start)
    if not isinstance(start, (list, tuple)) or len(start) != 2:
        raise RequestError(f"start must be a list [x, y] of two numbers, got {start!r}")
    point = (_number("start[0]", start[0]), _number("start[1]", start[1]))
    if not all(low <= v <= high for v, (low, high) in zip(point, land.domain, strict=True)):
        box = " x ".join(f"[{low:g}, {high:g}]" for low, high in land.domain)
        raise RequestError(f"start {list(point)} is outside {name}'s domain {box}")
    return point


def _steps(payload: dict) -> int:
    steps = payload.get("steps", 100)
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= MAX_STEPS:
        raise RequestError(f"steps must be an integer in [1, {MAX_STEPS}], got {steps!r}")
    return steps


def _run_spec(index: int, run: Any) -> tuple[str, dict[str, float]]:
    if not isinstance(run, dict):
        raise RequestError(f"runs[{index}] must be an object, got {run!r}")
    name = run.get("optimizer")
    if name not in METHODS:
        raise RequestError(f"runs[{index}]: unknown optimizer {name!r}; choose one of "
                           f"{', '.join(METHODS)}")
    method = METHODS[name]
    values = method.defaults()
    unknown = sorted(set(run) - set(values) - {"optimizer"})
    if unknown:
        allowed = ", ".join(values) or "none"
        raise RequestError(f"runs[{index}] ({name}): unknown hyperparameter(s) "
                           f"{', '.join(unknown)}; {name} takes {allowed}")
    for key in values:
        if key in run:
            values[key] = _number(f"runs[{index}] ({name}): {key}", run[key])
    try:
        method.build(**values)  # the library's own checks, on the concrete values
    except (ValueError, TypeError) as error:
        raise RequestError(f"runs[{index}] ({name}): {error}") from None
    return name, values


def _runs(payload: dict) -> list[tuple[str, dict[str, float]]]:
    runs = payload.get("runs")
    if not isinstance(runs, list) or not 1 <= len(runs) <= MAX_RUNS:
        raise RequestError(f"runs must be a list of 1 to {MAX_RUNS} objects "
                           f"{{\"optimizer\": ..., hyperparameters}}, got {runs!r:.80}")
    return [_run_spec(i, run) for i, run in enumerate(runs)]


# --- answering it -------------------------------------------------------------------------------


def _finish(name: str, points: np.ndarray, values: np.ndarray, num_steps: int, code: int
            ) -> dict[str, Any]:
    """One run's answer: its points up to the last finite one inside the bound."""
    domain = np.asarray(LANDSCAPES[name].domain, np.float64)
    centre, half = domain.mean(axis=1), (domain[:, 1] - domain[:, 0]) / 2
    points, values = points[: num_steps + 1], values[: num_steps + 1]
    with np.errstate(invalid="ignore", over="ignore"):
        bad = (~np.isfinite(points).all(axis=1) | ~np.isfinite(values)
               | (np.abs(points - centre) > BOUND * half).any(axis=1))
    diverged_at = int(np.argmax(bad)) if bad.any() else None
    reason = REASONS[code]
    if diverged_at is not None:
        points, values, reason = points[:diverged_at], values[:diverged_at], "diverged"
    return {
        "points": points.tolist(),
        "values": values.tolist(),
        "num_steps": len(values) - 1,
        "reason": reason,
        "diverged_at": diverged_at,
    }


def run_request(payload: Any, programs: Programs) -> dict[str, Any]:
    """Check `payload` (a decoded JSON object) and compute its runs.

    Raises `RequestError` naming the first problem. The answer holds the landscape, start,
    steps, per run its optimizer, hyperparameters, `points` [[x, y], ...] from the start,
    `values`, `num_steps`, `reason` (`optim.minimize`'s, or "diverged") and `diverged_at`
    (the first step that is not finite or out of bounds, or None), and `compiled` (programs
    compiled for this request) and `seconds`.
    """
    if not isinstance(payload, dict):
        raise RequestError(f"the request must be a JSON object, got {type(payload).__name__}")
    unknown = sorted(set(payload) - {"landscape", "start", "steps", "runs"})
    if unknown:
        raise RequestError(f"unknown field(s) {', '.join(unknown)}; a request has landscape, "
                           f"start, steps and runs")
    name = _landscape(payload)
    start, steps, runs = _start(payload, name), _steps(payload), _runs(payload)
    began, compiled_before = time.perf_counter(), programs.compilations
    answers: list[dict[str, Any] | None] = [None] * len(runs)
    for method in dict.fromkeys(m for m, _ in runs):
        indices = [i for i, (m, _) in enumerate(runs) if m == method]
        starts = jnp.asarray([start] * len(indices), jnp.float32)
        hyper = {key: jnp.asarray([runs[i][1][key] for i in indices], jnp.float32)
                 for key in METHODS[method].defaults()}
        out = jax.device_get(programs.program(name, method, steps)(starts, hyper))
        for row, i in enumerate(indices):
            answer = _finish(name, *(np.asarray(a[row]) for a in out[:2]),
                             int(out[2][row]), int(out[3][row]))
            answers[i] = {"optimizer": method, "hyperparameters": runs[i][1], **answer}
    return {
        "landscape": name,
        "start": list(start),
        "steps": steps,
        "runs": answers,
        "compiled": programs.compilations - compiled_before,
        "seconds": time.perf_counter() - began,
    }
