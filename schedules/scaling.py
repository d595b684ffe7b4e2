"""The linear scaling rule: a learning rate proportional to the minibatch size."""

from __future__ import annotations

import jax
from jax.typing import ArrayLike

from _descent import validation
from schedules._steps import Schedule
from schedules.decay import constant


def linear_scaling(
    base_value: ArrayLike | Schedule, batch_size: int, base_batch_size: int = 256
) -> Schedule:
    """The linear scaling rule (Goyal et al. 2017): scale the learning rate with the batch.

        value(t) = base_value * batch_size / base_batch_size

    "When the minibatch size is multiplied by k, multiply the learning rate by k": the paper
    (shown in lecture 002) trains ResNet-50 with 0.1 per 256 images, so
    `linear_scaling(0.1, 8192)` gives 3.2 for its 8k minibatches. It pairs the rule with a
    gradual warm-up over the first five epochs, for instance

        peak = 0.1 * 8192 / 256
        lr = join([linear_warmup(0.1, peak, 5 * epoch), step_decay(peak, 30 * epoch, 0.1)],
                  [5 * epoch])

    `base_value` may also be a schedule, each of whose values is then scaled.

    Args:
      base_value: the learning rate tuned at `base_batch_size`, > 0, or a schedule.
      batch_size: the minibatch size actually used, >= 1.
      base_batch_size: the minibatch size `base_value` was tuned for, >= 1 (the paper's 256).
    """
    if not callable(base_value):
        base_value = validation.finite("base_value", base_value, 0.0, low_open=True)
    batch_size = validation.step_count("batch_size", batch_size, 1)
    base_batch_size = validation.step_count("base_batch_size", base_batch_size, 1)
    ratio = batch_size / base_batch_size
    if not callable(base_value):
        return constant(base_value * ratio)
    base_schedule = base_value

    def schedule(step: ArrayLike) -> jax.Array:
        return base_schedule(step) * ratio

    return schedule
