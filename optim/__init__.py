"""descent's optimizers: pure, composable gradient transformations for JAX.

    tx = optim.chain(optim.clip_by_global_norm(1.0), optim.adam(1e-3))
    state = tx.init(params)
    updates, state = tx.update(grads, state, params)
    params = optim.apply_updates(params, updates)

Every public name is importable from here. The rooms behind them:

    _core/         the contract: GradientTransformation, chain, inject_hyperparams, state access
    tree/          the pytree maths (optim.tree.tree_global_norm, optax's optim.tree.get, ...);
                   tree_utils: the same under optax.tree_utils' names
    losses/        optax's losses, one value per example (optim.losses.l2_loss, ...)
    transforms/    the building blocks, one module per family
    aliases/       the optimizers, each one chain of building blocks
    wrappers/      transforms around another optimizer
    second_order/  Newton, BFGS, L-BFGS, line searches, minimize
    flat/          the flat fast path for many leaves (fused)
    sharding       state_shardings: the state's placement for jit's out_shardings
    landscapes     the lectures' test functions;  analysis: curvature, learning rates
    states         every optimizer state type, by name
"""
# ruff: noqa: F401  (every import here is a re-export; `__all__` is computed below)

# core
import types as _types

from optim import states, tree
from optim._core.base import (
    ElementwiseTransformation,
    EmptyState,
    GradientTransformation,
    OptState,
    Params,
    ScalarOrSchedule,
    Schedule,
    Updates,
    apply_updates,
    elementwise,
    is_elementwise,
)
from optim._core.combine import chain, identity, named_chain, stateless, with_extra_args_support
from optim._core.hyperparams import inject_hyperparams
from optim._core.state import find_fields, get_field, set_field
from optim._core.structure import ParamsRequiredError
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
from optim.transforms.adam import scale_by_adam, scale_by_nadam
from optim.transforms.adam_variance import (
    scale_by_adamax,
    scale_by_amsgrad,
    scale_by_belief,
    scale_by_radam,
)
from optim.transforms.adaptive import scale_by_adadelta, scale_by_rms, scale_by_rss
from optim.transforms.clipping import clip, clip_by_global_norm
from optim.transforms.factored import (
    clip_by_block_rms,
    scale_by_factored_rms,
    scale_by_param_block_rms,
)
from optim.transforms.layerwise import scale_by_lars, scale_by_trust_ratio
from optim.transforms.momentum import ema, trace
from optim.transforms.noise import add_noise
from optim.transforms.orthogonal import orthogonalize_via_newton_schulz, scale_by_muon
from optim.transforms.regularization import add_decayed_weights
from optim.transforms.scaling import scale, scale_by_learning_rate, scale_by_schedule
from optim.transforms.sign_based import (
    scale_by_adaptive_gains,
    scale_by_lion,
    scale_by_rprop,
    sign,
)

# optimizers
from optim.aliases.adam import adabelief, adam, adamax, adamw, amsgrad, nadam, radam
from optim.aliases.adaptive import adadelta, adagrad, rmsprop
from optim.aliases.factored import adafactor
from optim.aliases.gradient_descent import noisy_sgd, sgd
from optim.aliases.layerwise import lamb, lars
from optim.aliases.orthogonal import muon
from optim.aliases.schedule_free import schedule_free_adamw, schedule_free_sgd
from optim.aliases.second_order import bfgs, lbfgs, newton
from optim.aliases.sign_based import adaptive_gains, lion, rprop

# wrappers
from optim.wrappers.accumulate import MultiSteps
from optim.wrappers.averaging import ema_params, eval_params
from optim.wrappers.finite import apply_if_finite, raise_if_gave_up
from optim.wrappers.lookahead import lookahead
from optim.wrappers.partition import MaskedNode, masked, partition, set_to_zero
from optim.wrappers.plateau import reduce_on_plateau
from optim.wrappers.sam import sam
from optim.wrappers.schedule_free import schedule_free, schedule_free_eval_params

# optax's small transforms, wrappers and utilities, under optax's names
from optim._core.tree_map import init_empty_state, stateless_with_tree_map
from optim.aliases.adam_variants import adamaxw, nadamw, yogi
from optim.aliases.sign_descent import sign_sgd, signum
from optim.gradient_flow import scale_gradient
from optim.numerics import (
    global_norm,
    safe_increment,
    safe_int32_increment,
    safe_norm,
    safe_root_mean_squares,
)
from optim.target_params import incremental_update, periodic_update
from optim.transforms.accumulation import apply_every
from optim.transforms.centralization import centralize
from optim.transforms.constraints import keep_params_nonnegative, zero_nans
from optim.transforms.sign_based import sign as scale_by_sign
from optim.transforms.variance import scale_by_stddev, scale_by_yogi
from optim.wrappers.selective import freeze, selective_transform
from optim.wrappers.skip_rules import skip_large_updates, skip_not_finite

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
from optim.second_order.backtracking import scale_by_backtracking_linesearch
from optim.second_order.minimize import MinimizeResult, Trajectory, minimize
from optim.second_order.newton import scale_by_newton
from optim.second_order.quasi_newton import scale_by_bfgs, scale_by_lbfgs
from optim.second_order.zoom import scale_by_zoom_linesearch

# the flat fast path for many leaves
from optim.flat.flat_tree import FlatTree, flatten_params, unflatten
from optim.flat.fused import FusionError, check_fusable, fused, fused_step

# states placed like their params, under jit too
from optim.sharding import state_shardings

# optax's names for concepts the sections above already have (one import block per room; see
# the README's "optax's names" table)

# optax's schedule names, from schedules (which imports nothing of optim's)
from schedules import (
    constant_schedule,
    cosine_decay_schedule,
    cosine_onecycle_schedule,
    exponential_decay,
    join_schedules,
    linear_onecycle_schedule,
    linear_schedule,
    piecewise_constant_schedule,
    piecewise_interpolate_schedule,
    polynomial_schedule,
    sgdr_schedule,
    warmup_constant_schedule,
    warmup_cosine_decay_schedule,
    warmup_exponential_decay_schedule,
)

# optax's losses and the contrib optimizers, as sub-namespaces
# (optim.losses, optim.contrib: added here)
from optim import contrib
from optim import projections
from optim import losses, tree_utils
from optim.losses import (
    convex_kl_divergence,
    cosine_distance,
    cosine_similarity,
    ctc_loss,
    ctc_loss_with_forward_probs,
    generalized_kl_divergence,
    hinge_loss,
    huber_loss,
    kl_divergence,
    l2_loss,
    log_cosh,
    ntxent,
    safe_softmax_cross_entropy,
    sigmoid_binary_cross_entropy,
    sigmoid_focal_loss,
    smooth_labels,
    softmax_cross_entropy,
    softmax_cross_entropy_with_integer_labels,
    squared_error,
)
from optim.tree import (
    bias_correction,
    update_infinity_moment,
    update_moment,
    update_moment_per_elem_norm,
)
from optim.tree import tree_map_params

# optax's optimizers and building blocks that had no counterpart above
from optim.aliases.adaptive_moments import (
    adan,
    novograd,
    optimistic_adam,
    optimistic_adam_v2,
    sm3,
)
from optim.aliases.step_sizes import fromage, optimistic_gradient_descent, polyak_sgd
from optim.distributions import multi_normal
from optim.linalg import matrix_inverse_pth_root, nnls, power_iteration
from optim import microbatching
from optim.microbatching import microbatch
from optim.second_order.zoom import ZoomLinesearchInfo
from optim.second_order.quasi_newton import ScaleByLBFGSState
from optim.transforms.adan import ScaleByAdanState, scale_by_adan
from optim.transforms.adaptive_clipping import (
    AdaptiveGradClipState,
    adaptive_grad_clip,
    per_example_global_norm_clip,
    per_example_layer_norm_clip,
)
from optim.transforms.block_norms import normalize_by_update_norm, scale_by_param_block_norm
from optim.transforms.clipping import ClipByGlobalNormState, ClipState
from optim.transforms.distance_over_gradients import (
    ScaleByDistanceOverGradientsState,
    scale_by_distance_over_gradients,
)
from optim.transforms.layerwise import ScaleByTrustRatioState
from optim.transforms.novograd import ScaleByNovogradState, scale_by_novograd
from optim.transforms.optimistic import (
    ScaleByOptimisticGradientState,
    scale_by_optimistic_gradient,
)
from optim.transforms.polyak import scale_by_polyak
from optim.transforms.scaling import ScaleState
from optim.transforms.sm3 import ScaleBySM3State, scale_by_sm3

# optax's wrappers and API (multi_transform, conditionally_*, monitor, extra args, ...)
from optim._core.base import (
    GradientTransformationExtraArgs,
    TransformInitFn,
    TransformUpdateExtraArgsFn,
    TransformUpdateFn,
)
from optim._core.hyperparams import (
    InjectHyperparamsState,
    InjectStatefulHyperparamsState,
    inject_stateful_hyperparams,
)
from optim._core.masks import MaskOrFn
from optim.second_order.from_state import value_and_grad_from_state
from optim.wrappers.accumulate import ShouldSkipUpdateFunction
from optim.wrappers.conditional import (
    ConditionallyMaskState,
    ConditionallyTransformState,
    conditionally_mask,
    conditionally_transform,
)
from optim.wrappers.layouts import flatten
from optim.wrappers.lookahead import LookaheadParams
from optim.wrappers.monitoring import (
    MonitorState,
    SnapshotState,
    measure_with_ema,
    monitor,
    snapshot,
)
from optim.wrappers.partition import MultiTransformState, multi_transform
from schedules import StatefulSchedule, WrappedSchedule

# The public surface: every name imported above, and these sub-namespaces.
_PUBLIC_MODULES = {
    "analysis", "contrib", "landscapes", "losses", "microbatching", "projections", "states",
    "tree", "tree_utils",
}
__all__ = sorted(
    name
    for name, value in globals().items()
    if not name.startswith("_")
    and (not isinstance(value, _types.ModuleType) or name in _PUBLIC_MODULES)
)

# The state types stay importable from here, outside `__all__`: their home is `optim.states`.
from optim.states import *  # noqa: F403, E402
