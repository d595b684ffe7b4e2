"""Schedule-free SGD and AdamW (Defazio et al. 2024): no learning-rate decay schedule needed.

Both are `schedule_free` (`optim/wrappers/schedule_free.py`) around a momentum-free base
optimizer. Evaluate with `optim.eval_params(state, params)`, the averaged sequence x.
"""

from __future__ import annotations

from typing import Any

from _descent import validation
from optim._core.base import GradientTransformation, ScalarOrSchedule
from optim._core.combine import chain
from optim.transforms.adaptive import scale_by_rms
from optim.transforms.regularization import add_decayed_weights
from optim.transforms.scaling import scale_by_learning_rate
from optim.wrappers.schedule_free import adam_step_size, schedule_free, warmup_step_size


def schedule_free_sgd(
    learning_rate: ScalarOrSchedule = 1.0,
    warmup_steps: int | None = None,
    b1: float = 0.9,
    weight_decay: ScalarOrSchedule = 0.0,
    weight_lr_power: float = 2.0,
    state_dtype: Any = None,
) -> GradientTransformation:
    """Schedule-free SGD: `schedule_free(chain(add_decayed_weights, scale_by_learning_rate))`;
    the decay is taken at y, as the reference code. Defaults from the reference.

    Args:
      learning_rate: the base step size gamma (1.0), a number or a schedule.
      warmup_steps: a linear warm-up of gamma over this many steps; None for none.
      b1: the interpolation between the average x and the base iterate z (0.9).
      weight_decay: an L2 penalty's gradient at y (0).
      weight_lr_power: the averaging weights are `max gamma ** weight_lr_power` (2).
      state_dtype: z's dtype (default the params').
    """
    validation.non_negative("learning_rate", learning_rate)
    return schedule_free(
        chain(
            add_decayed_weights(weight_decay),
            scale_by_learning_rate(warmup_step_size(learning_rate, warmup_steps)),
        ),
        warmup_step_size(learning_rate, warmup_steps),
        b1,
        weight_lr_power,
        state_dtype,
    )


def schedule_free_adamw(
    learning_rate: ScalarOrSchedule = 0.0025,
    warmup_steps: int | None = None,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: ScalarOrSchedule = 0.0,
    weight_lr_power: float = 2.0,
    state_dtype: Any = None,
) -> GradientTransformation:
    """Schedule-free AdamW (Defazio et al. 2024, Algorithm 1): `schedule_free(chain(
    scale_by_rms(b2, eps outside the root), add_decayed_weights, scale_by_learning_rate))`.

        z_{t+1} = z_t - gamma_t (g_t / (sqrt(v_t) + eps) + weight_decay * y_t)
        gamma_t = learning_rate * sqrt(1 - b2**t) * min(1, t / warmup_steps)

    The paper's definition, as the reference code: the bias correction sits in gamma_t and so
    in the averaging weights (optax's version debiases v instead and weights by the bare
    learning rate, which differs during the first few hundred steps).

    Args:
      learning_rate: the base step size (0.0025, the reference's), a number or a schedule.
      warmup_steps: a linear warm-up over this many steps; None for none.
      b1: the interpolation between the average x and the base iterate z (0.9).
      b2: the second moment's decay (0.999).
      eps: added outside the root (1e-8).
      weight_decay: decoupled weight decay at y (0).
      weight_lr_power: the averaging weights' power of the step size (2).
      state_dtype: z's dtype (default the params').
    """
    validation.non_negative("learning_rate", learning_rate)
    with validation.renamed(decay="b2"):
        second_moment = scale_by_rms(b2, eps, eps_in_sqrt=False)
    return schedule_free(
        chain(
            second_moment,
            add_decayed_weights(weight_decay),
            scale_by_learning_rate(adam_step_size(learning_rate, b2, warmup_steps)),
        ),
        adam_step_size(learning_rate, b2, warmup_steps),
        b1,
        weight_lr_power,
        state_dtype,
    )
