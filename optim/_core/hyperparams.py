"""`inject_hyperparams`: an optimizer's numeric hyperparameters as readable, settable state."""

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


class InjectHyperparamsState(NamedTuple):
    count: jax.Array
    hyperparams: dict[str, jax.Array]
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


def inject_hyperparams(
    factory: Callable[..., GradientTransformation],
    static_args: str | tuple[str, ...] = (),
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
    static); one given as a schedule `step -> value` is evaluated at each step and its
    current value stored there too, also for an argument without a default that is annotated
    as a number (`inject_hyperparams(optim.scale)(step_size=schedule)`). A callable given where the
    factory's default is something else (a `mask`, a momentum schedule for `sgd`, whose
    default is None) is passed through untouched, as are the names in `static_args` (which
    must be the factory's argument names), booleans and strings. The factory is called once
    at once, so bad hyperparameters (a schedule's at step 0 too) raise when the optimizer is
    built, and the trajectory equals the plain optimizer's exactly. Stacking these states
    along a new axis and `jax.vmap`-ping `update` trains one configuration per row: a
    hyperparameter sweep as one compiled program.
    """
    static_names = {static_args} if isinstance(static_args, str) else set(static_args)
    signature = inspect.signature(factory)
    name_of = getattr(factory, "__name__", "factory")
    unknown = sorted(static_names - set(signature.parameters))
    if unknown:
        raise ValueError(
            f"static_args names {unknown}, which {getattr(factory, '__name__', factory)} does "
            f"not take; its arguments are {list(signature.parameters)}"
        )

    def build(*args: Any, **kwargs: Any) -> GradientTransformation:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        numeric, scheduled, fixed = {}, {}, {}
        for name, value in bound.arguments.items():
            default = signature.parameters[name].default
            if name in static_names:
                fixed[name] = value
            elif _injectable(value, default):
                numeric[name] = value
            elif callable(value) and (_is_number(default) or (
                    default is inspect.Parameter.empty
                    and _takes_a_number(signature.parameters[name]))):
                scheduled[name] = value
            else:
                fixed[name] = value
        # Built once now, as `update` will build it (a schedule's value, here at step 0, in
        # its place): bad hyperparameters raise here, not at the first step.
        for name, fn in scheduled.items():
            validation.schedule(name, fn)
        first = {name: jnp.asarray(fn(step_counter())) for name, fn in scheduled.items()}
        built = factory(**fixed, **numeric, **first)

        def current(count: jax.Array, stored: dict[str, jax.Array]) -> dict[str, jax.Array]:
            values = dict(stored)
            values.update({name: jnp.asarray(fn(count)) for name, fn in scheduled.items()})
            return values

        def init(params):
            count = step_counter()
            hyperparams = current(count, {k: jnp.asarray(v) for k, v in numeric.items()})
            inner = factory(**fixed, **hyperparams)
            return InjectHyperparamsState(count, hyperparams, inner.init(params))

        def update(updates, state, params=None, **extra):
            check_state(state, InjectHyperparamsState, f"inject_hyperparams({name_of})")
            hyperparams = current(state.count, state.hyperparams)
            inner = factory(**fixed, **hyperparams)
            updates, inner_state = call_update(inner, updates, state.inner_state, params, extra)
            new_state = InjectHyperparamsState(
                safe_increment(state.count), hyperparams, inner_state
            )
            return updates, new_state

        return elementwise_if(is_elementwise(built), GradientTransformation(init, update))

    return build
