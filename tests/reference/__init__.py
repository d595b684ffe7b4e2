"""Plain-NumPy float64 transcriptions of every update rule and schedule, written from the
docstrings' math; the tests compare the library against these (`import reference as ref`).

One module per area: schedules, first_order (the building blocks and the lectures'
optimizers), adam_family (the modern elementwise rules), layerwise (LAMB, LARS, Adafactor,
Muon), wrappers (averaging, lookahead, SAM, schedule-free, plateau), second_order, nets."""

from .schedules import (
    schedule_constant, schedule_step_decay, schedule_piecewise_constant,
    schedule_exponential_decay, schedule_inverse_time_decay, schedule_polynomial_decay,
    schedule_linear, schedule_cosine_decay, schedule_linear_warmup,
    schedule_warmup_cosine_decay, schedule_sgdr, schedule_cyclic_triangular, schedule_one_cycle,
    schedule_join, schedule_linear_scaling,
)
from .first_order import (
    scale, scale_by_learning_rate, scale_by_schedule, clip, clip_by_global_norm, trace, ema,
    scale_by_rss, scale_by_rms, scale_by_adadelta, scale_by_adam, scale_by_rprop,
    scale_by_adaptive_gains, add_decayed_weights, sign, sgd, adagrad, rmsprop, adadelta, adam,
    adamw, rprop, adaptive_gains,
)
from .adam_family import (
    scale_by_nadam, scale_by_amsgrad, scale_by_adamax, scale_by_radam, scale_by_belief,
    scale_by_lion, add_noise, nadam, amsgrad, adamax, radam, adabelief, lion, noisy_sgd,
)
from .layerwise import (
    scale_by_trust_ratio, lamb, lars, adafactor, newton_schulz, scale_by_muon,
)
from .wrappers import (
    ema_params, lookahead_sgd, sam_momentum, schedule_free_sgd, schedule_free_adamw,
    reduce_on_plateau,
)
from .second_order import (
    backtracking_gd_run, bfgs_run, lbfgs_direction, lbfgs_run, newton_direction,
)
from .nets import (
    nets_activation, nets_mlp_forward, nets_l2_loss, nets_binary_cross_entropy,
    nets_softmax_cross_entropy, nets_multiclass_hinge, nets_accuracy,
)

__all__ = [
    "schedule_constant", "schedule_step_decay", "schedule_piecewise_constant",
    "schedule_exponential_decay", "schedule_inverse_time_decay", "schedule_polynomial_decay",
    "schedule_linear", "schedule_cosine_decay", "schedule_linear_warmup",
    "schedule_warmup_cosine_decay", "schedule_sgdr", "schedule_cyclic_triangular",
    "schedule_one_cycle", "schedule_join", "schedule_linear_scaling", "scale",
    "scale_by_learning_rate", "scale_by_schedule", "clip", "clip_by_global_norm", "trace",
    "ema", "scale_by_rss", "scale_by_rms", "scale_by_adadelta", "scale_by_adam",
    "scale_by_rprop", "scale_by_adaptive_gains", "add_decayed_weights", "sign", "sgd",
    "adagrad", "rmsprop", "adadelta", "adam", "adamw", "rprop", "adaptive_gains",
    "scale_by_nadam", "scale_by_amsgrad", "scale_by_adamax", "scale_by_radam",
    "scale_by_belief", "scale_by_lion", "add_noise", "nadam", "amsgrad", "adamax", "radam",
    "adabelief", "lion", "noisy_sgd", "scale_by_trust_ratio", "lamb", "lars", "adafactor",
    "newton_schulz", "scale_by_muon", "ema_params", "lookahead_sgd", "sam_momentum",
    "schedule_free_sgd", "schedule_free_adamw", "reduce_on_plateau", "backtracking_gd_run",
    "bfgs_run", "lbfgs_direction", "lbfgs_run", "newton_direction", "nets_activation",
    "nets_mlp_forward", "nets_l2_loss", "nets_binary_cross_entropy",
    "nets_softmax_cross_entropy", "nets_multiclass_hinge", "nets_accuracy",
]
