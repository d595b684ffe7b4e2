"""`inject_hyperparams`: an optimizer's numeric hyperparameters as readable, settable state;
`inject_stateful_hyperparams`, the same with schedules that keep a state of their own."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from _descent import validation
from optim._core.base import GradientTransformation, elementwise_if, is_elementwise
from optim._core.combine import call_update
from optim._core.steps import safe_increment, step_counter
from optim._core.structure import check_state
from schedules.stateful import StatefulSchedule, WrappedSchedule


class InjectHyperparamsState(NamedTuple):
    count: jax.Array
    hyperparams: dict[str, jax.Array]
    inner_state: Any


class InjectStatefulHyperparamsState(NamedTuple):
    count: jax.Array
    hyperparams: dict[str, jax.Array]
    hyperparams_states: dict[str, Any]  # each stateful schedule's state
    inner_state: Any


def _is_number(value: Any) -> bool:
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, (int, float, np.number)):
        return True
    # NumPy scalars and arrays of any numeric dtype, bfloat16 (an ml_dtypes type) included.
    return isinstance(value, (np.ndarray, np.generic, jax.Array)) and jnp.issubdtype(
        jnp.result_type(value), jnp.number
    )


def _is_integer(value: Any) -> bool:
    return _is_number(value) and jnp.issubdtype(jnp.result_type(value), jnp.integer)


def _takes_a_number(parameter: inspect.Parameter) -> bool:
    """A parameter annotated as a number (or a number-or-schedule), not as a function."""
    text = str(parameter.annotation)
    return bool(re.search(r"\b(float|int|ScalarOrSchedule|ArrayLike)\b", text)) and (
        "Callable" not in text)


def _injectable(value: Any, default: Any) -> bool:
    """A number to hold in the state: a float, or an integer given where the default is a float.

    Integer parameters (`memory_size`, `min_dim_size_to_factor`, ...) often decide shapes or
    loop counts, so they stay static unless listed otherwise.
    """
    if not _is_number(value):
        return False
    return not _is_integer(value) or (_is_number(default) and not _is_integer(default))


def _cast(value: Any, dtype: Any) -> jax.Array:
    """A hyperparameter as an array; a float one in `hyperparam_dtype` when that is given."""
    value = jnp.asarray(value)
    if dtype is not None and jnp.issubdtype(value.dtype, jnp.inexact):
        return value.astype(dtype)
    return value


def _sort_arguments(signature, static_names, bound, stateful):
    """The bound arguments as (numeric, scheduled, fixed): numbers to hold in the state,
    schedules (stateful ones, or every schedule wrapped as one when `stateful`), the rest."""
    numeric, scheduled, fixed = {}, {}, {}
    for name, value in bound.arguments.items():
        default = signature.parameters[name].default
        if name in static_names:
            fixed[name] = value
        elif stateful and isinstance(value, StatefulSchedule) and not isinstance(value, tuple):
            scheduled[name] = value
        elif _injectable(value, default):
            numeric[name] = value
        elif callable(value) and (_is_number(default) or (
                default is inspect.Parameter.empty
                and _takes_a_number(signature.parameters[name]))):
            validation.schedule(name, value)
            scheduled[name] = WrappedSchedule(value) if stateful else value
        else:
            fixed[name] = value
    return numeric, scheduled, fixed


def _injector(factory, static_args, hyperparam_dtype, stateful: bool):
    static_names = {static_args} if isinstance(static_args, str) else set(static_args)
    signature = inspect.signature(factory)
    name_of = getattr(factory, "__name__", "factory")
    who = f"{'inject_stateful_hyperparams' if stateful else 'inject_hyperparams'}({name_of})"
    unknown = sorted(static_names - set(signature.parameters))
    if unknown:
        raise ValueError(
            f"static_args names {unknown}, which {name_of} does not take; its arguments are "
            f"{list(signature.parameters)}"
        )
    if hyperparam_dtype is not None and not jnp.issubdtype(hyperparam_dtype, jnp.inexact):
        raise TypeError(f"hyperparam_dtype must be a float dtype or None, got {hyperparam_dtype!r}")
    state_type = InjectStatefulHyperparamsState if stateful else InjectHyperparamsState

    def build(*args: Any, **kwargs: Any) -> GradientTransformation:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        numeric, scheduled, fixed = _sort_arguments(signature, static_names, bound, stateful)

        def first_states() -> dict:
            return {name: f.init() for name, f in scheduled.items()} if stateful else {}

        def current(count, stored, schedule_states, extra):
            values = {name: _cast(v, hyperparam_dtype) for name, v in stored.items()}
            for name, f in scheduled.items():
                value = f(schedule_states[name], **extra) if stateful else f(count)
                values[name] = _cast(value, hyperparam_dtype)
            return values

        # Built once now, as `update` will build it (a schedule's value, here at step 0, in
        # its place): bad hyperparameters raise here, not at the first step.
        at_zero = current(step_counter(), {}, first_states(), {})
        built = factory(**fixed, **numeric, **at_zero)

        def make_state(count, hyperparams, schedule_states, inner_state):
            if stateful:
                return state_type(count, hyperparams, schedule_states, inner_state)
            return state_type(count, hyperparams, inner_state)

        def init(params):
            count, schedule_states = step_counter(), first_states()
            hyperparams = current(count, numeric, schedule_states, {})
            inner = factory(**fixed, **hyperparams)
            return make_state(count, hyperparams, schedule_states, inner.init(params))

        def update(updates, state, params=None, **extra):
            check_state(state, state_type, who)
            schedule_states = state.hyperparams_states if stateful else {}
            stored = {k: v for k, v in state.hyperparams.items() if k not in scheduled}
            hyperparams = current(state.count, stored, schedule_states, extra)
            inner = factory(**fixed, **hyperparams)
            updates, inner_state = call_update(inner, updates, state.inner_state, params, extra)
            if stateful:
                schedule_states = {
                    name: f.update(schedule_states[name], **extra) for name, f in scheduled.items()
                }
            return updates, make_state(
                safe_increment(state.count), hyperparams, schedule_states, inner_state
            )

        return elementwise_if(is_elementwise(built), GradientTransformation(init, update))

    return build


def inject_hyperparams(
    inner_factory: Callable[..., GradientTransformation],
    static_args: str | tuple[str, ...] = (),
    hyperparam_dtype: Any = None,
) -> Callable[..., GradientTransformation]:
    """Wrap an optimizer factory so its numeric hyperparameters live in the state.

        tx = inject_hyperparams(optim.adam)(learning_rate=1e-3, b1=0.9)
        state = tx.init(params)
        optim.get_field(state, "learning_rate")             # read
        state = optim.set_field(state, learning_rate=1e-4)  # set, no retrace
        tx = inject_hyperparams(optim.sgd)(learning_rate=schedules.cosine_decay(0.1, 1000))

    Every argument given as a number (or left at a numeric default) becomes an entry of
    `state.hyperparams`, an array of its own dtype (float32, or float64 under x64), never the
    params' dtype (integer arguments of integer parameters, which often decide shapes, stay
    static); `hyperparam_dtype` (optax's keyword) casts every float one to that dtype instead.
    One given as a schedule `step -> value` is evaluated at each step and its
    current value stored there too, also for an argument without a default that is annotated
    as a number (`inject_hyperparams(optim.scale)(step_size=schedule)`). A callable given where the
    factory's default is something else (a `mask`, a momentum schedule for `sgd`, whose
    default is None) is passed through untouched, as are the names in `static_args` (which
    must be the factory's argument names), booleans and strings. The factory is called once
    at once, so bad hyperparameters (a schedule's at step 0 too) raise when the optimizer is
    built, and the trajectory equals the plain optimizer's exactly. Stacking these states
    along a new axis and `jax.vmap`-ping `update` trains one configuration per row: a
    hyperparameter sweep as one compiled program. The state is `InjectHyperparamsState`
    (`count`, `hyperparams`, `inner_state`); for schedules with a state of their own, see
    `inject_stateful_hyperparams`.
    """
    return _injector(inner_factory, static_args, hyperparam_dtype, stateful=False)


def inject_stateful_hyperparams(
    inner_factory: Callable[..., GradientTransformation],
    static_args: str | tuple[str, ...] = (),
    hyperparam_dtype: Any = None,
) -> Callable[..., GradientTransformation]:
    """`inject_hyperparams` that also takes `schedules.StatefulSchedule`s, as optax's.

    A stateful schedule's state is kept in `state.hyperparams_states[name]`: at each step the
    value is `schedule(its state, **extra)` and then the state becomes
    `schedule.update(its state, **extra)`, so a schedule may read what the loop passes to
    `update` (`value=loss`, say). A plain schedule is wrapped as a `schedules.WrappedSchedule`
    (its state a count). The state is `InjectStatefulHyperparamsState` (`count`,
    `hyperparams`, `hyperparams_states`, `inner_state`); the rest as `inject_hyperparams`.
    """
    return _injector(inner_factory, static_args, hyperparam_dtype, stateful=True)
