"""Gradient accumulation: `MultiSteps`, k micro-batches for one optimizer step."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp
import numpy as np

from _descent import validation
from optim._core.base import (
    GradientTransformation,
    OptState,
    Params,
    Updates,
    elementwise_if,
    is_elementwise,
)
from optim._core.combine import call_update
from optim._core.precision import check_state_dtype
from optim._core.steps import safe_increment, step_counter
from optim._core.structure import as_transform, check_state, check_updates
from optim.tree import tree_cast_like, tree_zeros_like


class MultiStepsState(NamedTuple):
    mini_step: jax.Array  # micro-batches accumulated since the last optimizer step
    gradient_step: jax.Array  # optimizer steps taken
    inner_opt_state: Any
    acc_grads: Any  # the sum of the micro-batch gradients since the last optimizer step
    skip_state: Any = ()  # the info of should_skip_update_fn at the last micro-batch


class ShouldSkipUpdateFunction(Protocol):
    """optax's rule for skipping a micro-batch: `(updates, gradient_step, params) ->
    (should_skip, info)`, `should_skip` a bool scalar array, `info` a pytree kept in
    `MultiStepsState.skip_state` (`optim.skip_not_finite`, `optim.skip_large_updates`)."""

    def __call__(
        self, updates: Updates, gradient_step: jax.Array, params: Params | None
    ) -> tuple[jax.Array, Any]: ...


def _never_skip(updates: Updates, gradient_step: jax.Array, params: Params | None):
    return jnp.zeros([], jnp.bool_), ()


def _check_skip(decision: Any) -> jax.Array:
    decision = jnp.asarray(decision)
    if decision.shape != () or decision.dtype != jnp.bool_:
        raise ValueError(
            "should_skip_update_fn must return (a bool scalar, info); its first value is "
            f"{decision.dtype}{list(decision.shape)}"
        )
    return decision


class MultiSteps:
    """Accumulate the gradients of k micro-batches, then take one step of `opt` on their mean.

        G = (g_1 + ... + g_k) / k        (the sum with use_grad_mean=False)
        u = opt.update(G) on micro-batch k, and 0 on micro-batches 1 .. k-1

    With a loss that is a mean over examples, k micro-batches of size b give exactly the step
    of one batch of size k*b: gradient accumulation, for batches larger than memory allows.
    `every_k_schedule` is an int or a function `gradient_step -> k` (an int array), so k may
    grow along training. The inner optimizer's state (and its step count, hence its schedules)
    advances once per k micro-batches. `accumulator_dtype` sets the accumulator's dtype
    (default the params'; float32 for bfloat16 params avoids losing small gradients).

    `should_skip_update_fn` (optax's `ShouldSkipUpdateFunction`, e.g. `optim.skip_not_finite`
    or `functools.partial(optim.skip_large_updates, max_squared_norm=42.0)`) rejects a
    micro-batch: its updates are zero and the state is as if it never came, but for
    `skip_state`, which keeps the rule's info.

    Usable as a transform (`init`, `update`), and, as optax's, through `gradient_transformation()`
    and `has_updated(state)` (True right after a micro-batch that took an optimizer step).
    """

    def __init__(
        self,
        opt: GradientTransformation,
        every_k_schedule: int | Callable[[jax.Array], jax.Array],
        use_grad_mean: bool = True,
        should_skip_update_fn: ShouldSkipUpdateFunction | None = None,
        accumulator_dtype: Any = None,
    ) -> None:
        self.opt = as_transform(opt, "MultiSteps' inner optimizer")
        if should_skip_update_fn is not None and not callable(should_skip_update_fn):
            raise TypeError(
                "should_skip_update_fn must be a function (updates, gradient_step, params) -> "
                f"(should_skip, info), or None; got {should_skip_update_fn!r}"
            )
        self.should_skip_update_fn = should_skip_update_fn or _never_skip
        check_state_dtype("accumulator_dtype", accumulator_dtype)
        if callable(every_k_schedule):
            validation.schedule("every_k_schedule", every_k_schedule)
            first = every_k_schedule(0)
            if not isinstance(first, jax.core.Tracer):
                validation.integer("every_k_schedule(0)", np.asarray(first).item(), 1)
        else:
            validation.integer("every_k_schedule", every_k_schedule, 1, concrete=False)
        self.every_k_schedule = every_k_schedule
        self.use_grad_mean = validation.boolean("use_grad_mean", use_grad_mean)
        self.accumulator_dtype = accumulator_dtype

    def _k(self, gradient_step: jax.Array) -> jax.Array:
        k = self.every_k_schedule
        # A schedule's k below 1 (checked at step 0, unknowable later) counts as 1.
        return jnp.maximum(jnp.asarray(k(gradient_step) if callable(k) else k, jnp.int32), 1)

    def init(self, params: Params) -> MultiStepsState:
        decision, skip_state = self.should_skip_update_fn(
            tree_zeros_like(params), step_counter(), params
        )
        _check_skip(decision)
        return MultiStepsState(
            step_counter(),
            step_counter(),
            self.opt.init(params),
            tree_zeros_like(params, self.accumulator_dtype),
            skip_state,
        )

    def update(
        self, updates: Updates, state: MultiStepsState, params: Params | None = None, **extra: Any
    ) -> tuple[Updates, MultiStepsState]:
        check_state(state, MultiStepsState, "MultiSteps")
        check_updates(updates, state.acc_grads, "state.acc_grads")
        decision, skip_state = self.should_skip_update_fn(updates, state.gradient_step, params)
        skip = _check_skip(decision)
        acc = jax.tree.map(lambda a, g: (a + g).astype(a.dtype), state.acc_grads, updates)
        k = self._k(state.gradient_step)
        emit = state.mini_step + 1 >= k

        def step(_):
            total = jax.tree.map(
                lambda a: (a / k).astype(a.dtype) if self.use_grad_mean else a, acc
            )
            out, inner = call_update(
                self.opt, tree_cast_like(total, updates), state.inner_opt_state, params, extra
            )
            return tree_cast_like(out, updates), MultiStepsState(
                step_counter(),
                safe_increment(state.gradient_step),
                inner,
                tree_zeros_like(acc),
                skip_state,
            )

        def accumulate(_):
            return tree_zeros_like(updates), MultiStepsState(
                safe_increment(state.mini_step), state.gradient_step, state.inner_opt_state, acc,
                skip_state,
            )

        def reject(_):
            return tree_zeros_like(updates), state._replace(skip_state=skip_state)

        branch = jnp.where(skip, 2, jnp.where(emit, 0, 1))
        return jax.lax.switch(branch, (step, accumulate, reject), None)

    @property
    def elementwise(self) -> bool:
        """Elementwise (fusable by `optim.fused`) when the inner optimizer is."""
        return is_elementwise(self.opt)

    def gradient_transformation(self) -> GradientTransformation:
        return elementwise_if(self.elementwise, GradientTransformation(self.init, self.update))

    @staticmethod
    def has_updated(state: OptState) -> jax.Array:
        """True when the last micro-batch took an optimizer step (the params moved)."""
        return jnp.logical_and(state.mini_step == 0, state.gradient_step > 0)
