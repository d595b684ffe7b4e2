"""Today's optimizers, each one expression of building blocks with optax's keyword names.

Each docstring names the paper, and the chain it is; the update rules and the conventions
chosen where libraries differ are in the building blocks' docstrings.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax

from optim.adaptive import scale_by_adam, scale_by_rms
from optim.aliases import adamw
from optim.base import GradientTransformation, ScalarOrSchedule
from optim.combine import chain, identity
from optim.factored import (
    clip_by_block_rms,
    relative_step_size,
    scale_by_factored_rms,
    scale_by_param_block_rms,
)
from optim.layerwise import scale_by_lars, scale_by_trust_ratio
from optim.lion import scale_by_lion
from optim.modern import (
    scale_by_adamax,
    scale_by_amsgrad,
    scale_by_belief,
    scale_by_nadam,
    scale_by_radam,
)
from optim.momentum import ema, trace
from optim.noise import add_noise
from optim.orthogonal import NS_COEFFS, scale_by_muon
from optim.partition import broadcast_prefix, partition
from optim.regularize import add_decayed_weights
from optim.scale import scale, scale_by_learning_rate
from optim.schedule_free import adam_step_size, schedule_free, warmup_step_size

MaskOrFn = Any | Callable[[Any], Any] | None


def nadam(
    learning_rate: ScalarOrSchedule = 0.002,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    momentum_decay: float | None = 0.004,
    mu_dtype: Any = None,
) -> GradientTransformation:
    """NAdam (Dozat 2016): `chain(scale_by_nadam, scale_by_learning_rate)`. Learning rate 0.002
    as Dozat and PyTorch; `momentum_decay=None` is optax's `nadam` (constant momentum)."""
    return chain(
        scale_by_nadam(b1, b2, eps, eps_root, momentum_decay, mu_dtype),
        scale_by_learning_rate(learning_rate),
    )


def amsgrad(
    learning_rate: ScalarOrSchedule = 0.001,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    mu_dtype: Any = None,
    *,
    debias_before_max: bool = True,
) -> GradientTransformation:
    """AMSGrad (Reddi et al. 2018): `chain(scale_by_amsgrad, scale_by_learning_rate)`."""
    return chain(
        scale_by_amsgrad(b1, b2, eps, eps_root, mu_dtype, debias_before_max=debias_before_max),
        scale_by_learning_rate(learning_rate),
    )


def adamax(
    learning_rate: ScalarOrSchedule = 0.002,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: float = 1e-8,
) -> GradientTransformation:
    """AdaMax (Kingma & Ba 2015, Sec. 7.1): `chain(scale_by_adamax, scale_by_learning_rate)`;
    learning rate 0.002 from the paper."""
    return chain(scale_by_adamax(b1, b2, eps), scale_by_learning_rate(learning_rate))


def radam(
    learning_rate: ScalarOrSchedule = 0.001,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    threshold: float = 5.0,
) -> GradientTransformation:
    """RAdam (Liu et al. 2020): `chain(scale_by_radam, scale_by_learning_rate)`."""
    return chain(
        scale_by_radam(b1, b2, eps, eps_root, threshold), scale_by_learning_rate(learning_rate)
    )


def adabelief(
    learning_rate: ScalarOrSchedule = 0.001,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: float = 1e-16,
    eps_root: float = 1e-16,
) -> GradientTransformation:
    """AdaBelief (Zhuang et al. 2020): `chain(scale_by_belief, scale_by_learning_rate)`."""
    return chain(scale_by_belief(b1, b2, eps, eps_root), scale_by_learning_rate(learning_rate))


def lion(
    learning_rate: ScalarOrSchedule = 1e-4,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.99,
    mu_dtype: Any = None,
    weight_decay: ScalarOrSchedule = 1e-3,
    mask: MaskOrFn = None,
) -> GradientTransformation:
    """Lion (Chen et al. 2023): `chain(scale_by_lion, add_decayed_weights,
    scale_by_learning_rate)`; defaults as optax (the paper: lr 3-10x below AdamW's)."""
    return chain(
        scale_by_lion(b1, b2, mu_dtype),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )


def lamb(
    learning_rate: ScalarOrSchedule = 0.001,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: float = 1e-6,
    eps_root: float = 0.0,
    weight_decay: ScalarOrSchedule = 0.0,
    mask: MaskOrFn = None,
) -> GradientTransformation:
    """LAMB (You et al. 2020): `chain(scale_by_adam, add_decayed_weights, scale_by_trust_ratio,
    scale_by_learning_rate)`; eps 1e-6 from the paper, as optax."""
    return chain(
        scale_by_adam(b1, b2, eps, eps_root),
        add_decayed_weights(weight_decay, mask),
        scale_by_trust_ratio(),
        scale_by_learning_rate(learning_rate),
    )


def lars(
    learning_rate: ScalarOrSchedule = 0.1,
    weight_decay: ScalarOrSchedule = 0.0,
    weight_decay_mask: MaskOrFn = True,
    trust_coefficient: float = 0.001,
    eps: float = 0.0,
    trust_ratio_mask: MaskOrFn = True,
    momentum: ScalarOrSchedule = 0.9,
    nesterov: bool = False,
) -> GradientTransformation:
    """LARS (You, Gitman & Ginsburg 2017): `chain(scale_by_lars, scale_by_learning_rate,
    trace)`, the paper's momentum on the locally scaled step; optax's keyword names."""
    return chain(
        scale_by_lars(
            trust_coefficient,
            weight_decay,
            eps,
            weight_decay_mask=weight_decay_mask,
            trust_ratio_mask=trust_ratio_mask,
        ),
        scale_by_learning_rate(learning_rate),
        trace(momentum, nesterov),
    )


def adafactor(
    learning_rate: ScalarOrSchedule | None = None,
    min_dim_size_to_factor: int = 128,
    decay_rate: float = 0.8,
    decay_offset: int = 0,
    multiply_by_parameter_scale: bool = True,
    clipping_threshold: float | None = 1.0,
    momentum: float | None = None,
    dtype_momentum: Any = jax.numpy.float32,
    weight_decay_rate: ScalarOrSchedule | None = None,
    eps: float = 1e-30,
    factored: bool = True,
    weight_decay_mask: MaskOrFn = None,
) -> GradientTransformation:
    """Adafactor (Shazeer & Stern 2018): `chain(scale_by_factored_rms, clip_by_block_rms,
    scale_by_learning_rate, scale_by_param_block_rms, [ema], [add_decayed_weights], scale(-1))`.

    optax's arguments and order. `learning_rate=None` is the paper's relative step
    `rho_t = min(1e-2, 1/sqrt(t))` (optax's None applies no step size at all); with the
    parameter scale the step is `max(1e-3, RMS(params)) * rho_t`, Algorithm 4 with beta1 = 0.
    """
    return chain(
        scale_by_factored_rms(factored, decay_rate, decay_offset, min_dim_size_to_factor, eps),
        clip_by_block_rms(clipping_threshold) if clipping_threshold is not None else identity(),
        scale_by_learning_rate(
            relative_step_size if learning_rate is None else learning_rate, flip_sign=False
        ),
        scale_by_param_block_rms() if multiply_by_parameter_scale else identity(),
        ema(momentum, debias=False, accumulator_dtype=dtype_momentum)
        if momentum is not None
        else identity(),
        add_decayed_weights(weight_decay_rate, weight_decay_mask)
        if weight_decay_rate is not None
        else identity(),
        scale(-1.0),
    )


def noisy_sgd(
    learning_rate: ScalarOrSchedule = 0.01,
    eta: float = 0.01,
    gamma: float = 0.55,
    key: Any = 0,
) -> GradientTransformation:
    """SGD with annealed Gaussian gradient noise (Neelakantan et al. 2015):
    `chain(add_noise, scale_by_learning_rate)`."""
    return chain(add_noise(eta, gamma, key), scale_by_learning_rate(learning_rate))


def _muon_labels(muon_mask: MaskOrFn) -> Callable[[Any], Any]:
    def labels(params: Any) -> Any:
        if muon_mask is None:
            return jax.tree.map(lambda p: "muon" if jax.numpy.ndim(p) == 2 else "adam", params)
        chosen = muon_mask(params) if callable(muon_mask) else muon_mask
        return jax.tree.map(
            lambda m: "muon" if m else "adam", broadcast_prefix(chosen, params, "muon_mask")
        )

    return labels


def muon(
    learning_rate: ScalarOrSchedule = 0.02,
    ns_coeffs: tuple[float, float, float] = NS_COEFFS,
    ns_steps: int = 5,
    beta: ScalarOrSchedule = 0.95,
    eps: float = 1e-8,
    weight_decay: ScalarOrSchedule = 0.0,
    mu_dtype: Any = None,
    *,
    nesterov: bool = True,
    adam_b1: ScalarOrSchedule = 0.9,
    adam_b2: ScalarOrSchedule = 0.999,
    adam_eps_root: float = 0.0,
    adam_weight_decay: ScalarOrSchedule = 0.0,
    adam_learning_rate: ScalarOrSchedule | None = None,
    muon_mask: MaskOrFn = None,
) -> GradientTransformation:
    """Muon (Jordan et al. 2024): `partition({"muon": chain(scale_by_muon, add_decayed_weights,
    scale_by_learning_rate), "adam": adamw}, by rank)`.

    Matrices (rank-2 leaves, or the leaves where `muon_mask` is True) take Muon's
    orthogonalized steps; every other leaf (biases, scales, and whatever the mask leaves out:
    Jordan advises AdamW for embeddings and the output layer) takes AdamW with
    `adam_learning_rate` (default `learning_rate`). Learning rate 0.02 and beta 0.95 from the
    reference; optax's keyword names.
    """
    return partition(
        {
            "muon": chain(
                scale_by_muon(ns_coeffs, ns_steps, beta, eps, mu_dtype, nesterov=nesterov),
                add_decayed_weights(weight_decay),
                scale_by_learning_rate(learning_rate),
            ),
            "adam": adamw(
                learning_rate=learning_rate if adam_learning_rate is None else adam_learning_rate,
                b1=adam_b1,
                b2=adam_b2,
                eps=eps,
                eps_root=adam_eps_root,
                mu_dtype=mu_dtype,
                weight_decay=adam_weight_decay,
            ),
        },
        _muon_labels(muon_mask),
    )


def schedule_free_sgd(
    learning_rate: ScalarOrSchedule = 1.0,
    warmup_steps: int | None = None,
    b1: float = 0.9,
    weight_decay: ScalarOrSchedule = 0.0,
    weight_lr_power: float = 2.0,
    state_dtype: Any = None,
) -> GradientTransformation:
    """Schedule-free SGD (Defazio et al. 2024): `schedule_free(chain(add_decayed_weights,
    scale_by_learning_rate))`; the decay is taken at y, as the reference. Defaults from the
    reference code (learning rate 1.0, b1 = 0.9, power 2). Eval params: `eval_params`."""
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
    learning rate, which differs during the first few hundred steps). Defaults from the
    reference (learning rate 0.0025, b1 = 0.9, b2 = 0.999, power 2). Eval: `eval_params`."""
    return schedule_free(
        chain(
            scale_by_rms(b2, eps, eps_in_sqrt=False),
            add_decayed_weights(weight_decay),
            scale_by_learning_rate(adam_step_size(learning_rate, b2, warmup_steps)),
        ),
        adam_step_size(learning_rate, b2, warmup_steps),
        b1,
        weight_lr_power,
        state_dtype,
    )
