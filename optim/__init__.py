"""descent's optimizers: pure, composable gradient transformations for JAX.

    tx = optim.chain(optim.clip_by_global_norm(1.0), optim.adam(1e-3))
    state = tx.init(params)
    updates, state = tx.update(grads, state, params)
    params = optim.apply_updates(params, updates)
"""

# core
from optim.base import (
    EmptyState,
    GradientTransformation,
    OptState,
    Params,
    ScalarOrSchedule,
    Schedule,
    Updates,
    apply_updates,
)
from optim.combine import chain, identity, named_chain, stateless
from optim.hyperparams import InjectHyperparamsState, inject_hyperparams
from optim.state import find_fields, get_field, set_field
from optim.tree import (
    tree_add,
    tree_add_scaled,
    tree_all_finite,
    tree_cast,
    tree_global_norm,
    tree_scale,
    tree_sub,
    tree_sum_of_squares,
    tree_vdot,
    tree_where,
    tree_zeros_like,
)

# building blocks
from optim.adaptive import (
    ScaleByAdaDeltaState,
    ScaleByAdamState,
    ScaleByRmsState,
    ScaleByRssState,
    scale_by_adadelta,
    scale_by_adam,
    scale_by_rms,
    scale_by_rss,
)
from optim.clipping import clip, clip_by_global_norm
from optim.momentum import EmaState, TraceState, ema, trace
from optim.regularize import AddDecayedWeightsState, add_decayed_weights
from optim.scale import ScaleByScheduleState, scale, scale_by_learning_rate, scale_by_schedule
from optim.sign import (
    ScaleByAdaptiveGainsState,
    ScaleByRpropState,
    scale_by_adaptive_gains,
    scale_by_rprop,
    sign,
)

# the lectures' optimizers
from optim.aliases import adadelta, adagrad, adam, adamw, adaptive_gains, rmsprop, rprop, sgd

# wrappers and modern optimizers (partition, wrappers, accumulate, lookahead, plateau, modern,
# lion, layerwise, factored, orthogonal, noise, schedule_free, sam, modern_aliases)
from optim.accumulate import MultiSteps, MultiStepsState
from optim.factored import (
    FactoredState,
    clip_by_block_rms,
    scale_by_factored_rms,
    scale_by_param_block_rms,
)
from optim.layerwise import ScaleByLarsState, scale_by_lars, scale_by_trust_ratio
from optim.lion import ScaleByLionState, scale_by_lion
from optim.lookahead import LookaheadState, lookahead
from optim.modern import (
    ScaleByAdamaxState,
    ScaleByAmsgradState,
    ScaleByBeliefState,
    ScaleByNadamState,
    ScaleByRadamState,
    scale_by_adamax,
    scale_by_amsgrad,
    scale_by_belief,
    scale_by_nadam,
    scale_by_radam,
)
from optim.modern_aliases import (
    adabelief,
    adafactor,
    adamax,
    amsgrad,
    lamb,
    lars,
    lion,
    muon,
    nadam,
    noisy_sgd,
    radam,
    schedule_free_adamw,
    schedule_free_sgd,
)
from optim.noise import AddNoiseState, add_noise
from optim.orthogonal import ScaleByMuonState, orthogonalize_via_newton_schulz, scale_by_muon
from optim.partition import (
    MaskedNode,
    MaskedState,
    PartitionState,
    masked,
    partition,
    set_to_zero,
)
from optim.plateau import ReduceLROnPlateauState, reduce_on_plateau
from optim.sam import SAMState, sam
from optim.schedule_free import ScheduleFreeState, schedule_free, schedule_free_eval_params
from optim.wrappers import (
    ApplyIfFiniteState,
    EmaParamsState,
    apply_if_finite,
    ema_params,
    eval_params,
    raise_if_gave_up,
)

# second order, line searches, the minimize driver, landscapes, analysis
from optim import analysis, landscapes
from optim.analysis import (
    condition_number,
    gradient_check,
    hessian_vector_product,
    learning_rate_regime,
    lr_range_test,
    optimal_learning_rate,
    top_hessian_eigenvalue,
)
from optim.landscapes import Landscape
from optim.linesearch import (
    ScaleByBacktrackingLinesearchState,
    ScaleByZoomLinesearchState,
    scale_by_backtracking_linesearch,
    scale_by_zoom_linesearch,
)
from optim.minimize import MinimizeResult, Trajectory, minimize
from optim.second_order import (
    ScaleByBfgsState,
    ScaleByLbfgsState,
    ScaleByNewtonState,
    bfgs,
    lbfgs,
    newton,
    scale_by_bfgs,
    scale_by_lbfgs,
    scale_by_newton,
)

# the flat fast path for many leaves (flat, fused)
from optim.flat import FlatTree, flatten, unflatten
from optim.fused import FusionError, check_fusable, fused, fused_step

__all__ = [
    # core
    "EmptyState",
    "GradientTransformation",
    "OptState",
    "Params",
    "ScalarOrSchedule",
    "Schedule",
    "Updates",
    "apply_updates",
    "chain",
    "find_fields",
    "get_field",
    "identity",
    "named_chain",
    "set_field",
    "stateless",
    "tree_add",
    "tree_add_scaled",
    "tree_all_finite",
    "tree_cast",
    "tree_global_norm",
    "tree_scale",
    "tree_sub",
    "tree_sum_of_squares",
    "tree_vdot",
    "tree_where",
    "tree_zeros_like",
    "InjectHyperparamsState",
    "inject_hyperparams",
    # building blocks
    "AddDecayedWeightsState",
    "EmaState",
    "ScaleByAdaDeltaState",
    "ScaleByAdamState",
    "ScaleByAdaptiveGainsState",
    "ScaleByRmsState",
    "ScaleByRpropState",
    "ScaleByRssState",
    "ScaleByScheduleState",
    "TraceState",
    "add_decayed_weights",
    "clip",
    "clip_by_global_norm",
    "ema",
    "scale",
    "scale_by_adadelta",
    "scale_by_adam",
    "scale_by_adaptive_gains",
    "scale_by_learning_rate",
    "scale_by_rms",
    "scale_by_rprop",
    "scale_by_rss",
    "scale_by_schedule",
    "sign",
    "trace",
    # the lectures' optimizers
    "adadelta",
    "adagrad",
    "adam",
    "adamw",
    "adaptive_gains",
    "rmsprop",
    "rprop",
    "sgd",
    # wrappers and modern optimizers
    "AddNoiseState",
    "ApplyIfFiniteState",
    "EmaParamsState",
    "FactoredState",
    "LookaheadState",
    "MaskedNode",
    "MaskedState",
    "MultiSteps",
    "MultiStepsState",
    "PartitionState",
    "ReduceLROnPlateauState",
    "SAMState",
    "ScaleByAdamaxState",
    "ScaleByAmsgradState",
    "ScaleByBeliefState",
    "ScaleByLarsState",
    "ScaleByLionState",
    "ScaleByMuonState",
    "ScaleByNadamState",
    "ScaleByRadamState",
    "ScheduleFreeState",
    "adabelief",
    "adafactor",
    "adamax",
    "add_noise",
    "amsgrad",
    "apply_if_finite",
    "clip_by_block_rms",
    "ema_params",
    "eval_params",
    "lamb",
    "lars",
    "lion",
    "lookahead",
    "masked",
    "muon",
    "nadam",
    "noisy_sgd",
    "orthogonalize_via_newton_schulz",
    "partition",
    "radam",
    "raise_if_gave_up",
    "reduce_on_plateau",
    "sam",
    "scale_by_adamax",
    "scale_by_amsgrad",
    "scale_by_belief",
    "scale_by_factored_rms",
    "scale_by_lars",
    "scale_by_lion",
    "scale_by_muon",
    "scale_by_nadam",
    "scale_by_param_block_rms",
    "scale_by_radam",
    "scale_by_trust_ratio",
    "schedule_free",
    "schedule_free_adamw",
    "schedule_free_eval_params",
    "schedule_free_sgd",
    "set_to_zero",
    # second order, line searches, minimize, landscapes, analysis
    "Landscape",
    "MinimizeResult",
    "ScaleByBacktrackingLinesearchState",
    "ScaleByBfgsState",
    "ScaleByLbfgsState",
    "ScaleByNewtonState",
    "ScaleByZoomLinesearchState",
    "Trajectory",
    "analysis",
    "bfgs",
    "condition_number",
    "gradient_check",
    "hessian_vector_product",
    "landscapes",
    "lbfgs",
    "learning_rate_regime",
    "lr_range_test",
    "minimize",
    "newton",
    "optimal_learning_rate",
    "scale_by_backtracking_linesearch",
    "scale_by_bfgs",
    "scale_by_lbfgs",
    "scale_by_newton",
    "scale_by_zoom_linesearch",
    "top_hessian_eigenvalue",
    # the flat fast path (flat, fused)
    "FlatTree",
    "FusionError",
    "check_fusable",
    "flatten",
    "fused",
    "fused_step",
    "unflatten",
]
