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
]
