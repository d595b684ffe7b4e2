"""Measurements of the updates kept in the state, for logging: `snapshot`, `monitor` and
`measure_with_ema`. As optax's (`optax.transforms._monitoring`); none changes the updates.

    tx = optim.chain(
        optim.sgd(0.1),
        optim.monitor({"norm": optim.tree.tree_global_norm,
                       "norm_ema": optim.measure_with_ema(optim.tree.tree_global_norm, 0.9)}),
        optim.clip_by_global_norm(1.0),
    )
    optim.get_field(state, "measurements")["norm"]    # the updates' norm before clipping
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from optim._core.base import GradientTransformation, Updates
from optim._core.combine import call_update, chain, stateless
from optim._core.structure import as_transform, check_state
from optim.transforms.momentum import ema


class SnapshotState(NamedTuple):
    measurement: dict[str, Any]  # {measure_name: measure(the last updates)}


class MonitorState(NamedTuple):
    measurements: dict[str, Any]  # {name: the last measurement}
    measure_states: tuple  # the state of each stateful measure, in the order given


def _check_measure(measure: Any, what: str) -> None:
    if not callable(measure):
        raise TypeError(f"{what} must be a function updates -> measurement, got {measure!r}")


def snapshot(measure_name: str, measure: Callable[[Updates], Any]) -> GradientTransformation:
    """Keep `measure(updates)` in the state under `measure_name`; the updates pass unchanged.

    In a chain it sees the updates as the transforms before it left them; read it with
    `optim.get_field(state, "measurement")[measure_name]` (before the first update it holds
    `measure(params)`, as optax's).
    """
    if not isinstance(measure_name, str):
        raise TypeError(f"measure_name must be a string, got {measure_name!r}")
    _check_measure(measure, "measure")

    def init(params):
        return SnapshotState({measure_name: measure(params)})

    def update(updates, state, params=None, **extra):
        check_state(state, SnapshotState, "snapshot")
        return updates, SnapshotState({measure_name: measure(updates)})

    return GradientTransformation(init, update)


def _as_measure(measure: Any, name: str) -> GradientTransformation:
    """A measure as a transform whose "updates" are the measurement: a function becomes a
    stateless one."""
    if hasattr(measure, "init") and hasattr(measure, "update"):
        return as_transform(measure, f"measures[{name!r}]")
    _check_measure(measure, f"measures[{name!r}]")
    return stateless(lambda updates, params: measure(updates))


def monitor(measures: Mapping[str, Any]) -> GradientTransformation:
    """Keep named measurements of the updates in the state; the updates pass unchanged.

    Each value of `measures` is a function `updates -> measurement` or a transform whose
    output is the measurement (its state kept in `measure_states`), such as
    `measure_with_ema`. `state.measurements[name]` holds the last step's value (zeros before
    the first step, where optax's dict is empty: the state keeps its structure, so a jitted
    update does not retrace).
    """
    if not isinstance(measures, Mapping) or not measures:
        raise TypeError(f"measures must be a non-empty dict name -> measure, got {measures!r}")
    names = tuple(measures)
    transforms = tuple(_as_measure(measures[name], name) for name in names)

    def init(params):
        states = tuple(t.init(params) for t in transforms)
        # Zeros shaped like each measurement, not optax's empty dict: the state keeps one
        # structure from step to step, so a jitted update is not traced a second time.
        shapes = {name: jax.eval_shape(lambda p, s, t=t: call_update(t, p, s, p, {})[0],
                                       params, state)
                  for name, t, state in zip(names, transforms, states, strict=True)}
        measurements = jax.tree.map(lambda x: jnp.zeros(x.shape, x.dtype), shapes)
        return MonitorState(measurements, states)

    def update(updates, state, params=None, **extra):
        check_state(state, MonitorState, "monitor")
        measurements, new_states = {}, []
        for name, t, s in zip(names, transforms, state.measure_states, strict=True):
            measurements[name], s = call_update(t, updates, s, params, extra)
            new_states.append(s)
        return updates, MonitorState(measurements, tuple(new_states))

    return GradientTransformation(init, update)


def _as_float(tree: Any) -> Any:
    """Measurements that are booleans or integers (`norm > threshold`) averaged as floats."""
    return jax.tree.map(
        lambda x: x if jnp.issubdtype(jnp.result_type(x), jnp.inexact) else jnp.asarray(
            x, jnp.result_type(float)), tree)


def measure_with_ema(
    measure: Callable[[Updates], Any],
    decay: float,
    debias: bool = True,
    accumulator_dtype: Any = None,
) -> GradientTransformation:
    """A measure for `monitor`: the exponential moving average of `measure(updates)`,

        m_t = decay * m_{t-1} + (1 - decay) * measure(u_t)      (m_0 = 0)
        out = m_t / (1 - decay**t)   with debias,   else   m_t

    `chain(stateless(measure), ema(decay, debias, accumulator_dtype))` with the average shaped
    like the measurement. As optax's.
    """
    _check_measure(measure, "measure")
    moving = ema(decay, debias, accumulator_dtype)
    average = GradientTransformation(
        lambda params: moving.init(_as_float(measure(params))), moving.update
    )
    return chain(stateless(lambda updates, params: _as_float(measure(updates))), average)
