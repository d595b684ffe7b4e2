"""The registry of the contract suite: every optimizer and transform of `optim`, with its
arguments, checked by test_contract.py (two jitted steps in three dtypes, eager, injected),
test_contract_groups.py (inside partition and MultiSteps) and test_contract_descent.py (four
jitted steps down a quadratic).

To add an optimizer: one line in REGISTRY, `"name": entry(optim.factory, arg=value, ...)`.
Every function exported by `optim` must be in REGISTRY or NOT_OPTIMIZERS (checked), so a new
optimizer cannot be forgotten.
"""

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from optim_helpers import example_tree

import optim


class Entry(NamedTuple):
    factory: Any
    kwargs: dict
    select: Any = None  # params -> the part of the example params this entry is run on
    static_args: tuple = ()  # for inject_hyperparams: arguments that must stay Python values
    rtol: float = 1e-5  # eager against jit (a low-precision state is rounded only eagerly)
    # Newton and the line searches read `value_fn` and `grad`, the objective of the whole params
    # at this step: inside partition they would see part of the params, inside MultiSteps a
    # gradient that is not value_fn's. They are left out of test_inside_partition_and_multi_steps.
    reads_objective: bool = False
    # A line search is given a descent direction, -grad, as its updates (the gradient itself
    # points uphill, and every search would return a step of 0).
    descent: bool = False
    # Checked for descent (test_contract_descent.py): a function making a step of the
    # transform (`as_is` for an optimizer, `then_scale(-0.1)` for a direction); None: not checked.
    descends: Callable | None = None
    start: Callable | None = None  # dtype -> the params the descent starts from
    # Its arguments name the leaves of the example params (a mask or labels tree): it cannot run
    # on a group of them, and is left out of test_inside_partition_and_multi_steps.
    whole_tree: bool = False

    def build(self):
        return self.factory(**self.kwargs)

    def build_injected(self):
        return optim.inject_hyperparams(self.factory, self.static_args)(**self.kwargs)


def entry(
    factory, *, select=None, static_args=(), rtol=1e-5, reads_objective=False, descent=False,
    descends=None, start=None, whole_tree=False, **kwargs,
) -> Entry:
    return Entry(
        factory, kwargs, select, static_args, rtol, reads_objective, descent, descends, start,
        whole_tree,
    )


def matrices(params):
    return {"w": params["w"], "m": params["deep"][1][1]}


def as_is(tx):
    """An optimizer: its updates are steps."""
    return tx


def then_scale(factor):
    """A direction: `chain(tx, scale(factor))` is a step."""
    return lambda tx: optim.chain(tx, optim.scale(factor))


def after(first):
    """A transform of steps, such as ema_params: `chain(first, tx)` is a step."""
    return lambda tx: optim.chain(first, tx)


def halves(dtype):
    """The example params' tree (optim_helpers.example_tree), every entry 0.5."""
    return example_tree(lambda shape: jnp.full(shape, 0.5, dtype))


def mixed(dtype):
    """A matrix of 0.5, a vector of 0 and a scalar 0.3: in bfloat16 a step of 1e-3 moves the
    entries at 0 (lion_decay_0.01's steps), not those at 0.5 (spaced 2**-8 apart)."""
    return {"w": jnp.full((3, 2), 0.5, dtype), "b": [jnp.zeros((2,), dtype), jnp.asarray(0.3, dtype)]}


# Labels and a mask of the example params' leaves (optim_helpers.example_tree).
LABELS = {"w": "adam", "b": "sgd", "deep": ["frozen", ("adam", "sgd")]}
MASK = {"w": True, "b": False, "deep": [True, (False, True)]}


def three_groups():
    return {
        "adam": optim.adam(0.01),
        "sgd": optim.sgd(0.1, momentum=0.9),
        "frozen": optim.set_to_zero(),
    }


REGISTRY = {
    # core
    "identity": entry(optim.identity),
    "stateless": entry(optim.stateless, f=lambda updates, params: updates),
    # building blocks
    "scale": entry(optim.scale, step_size=-0.5),
    "scale_by_learning_rate": entry(optim.scale_by_learning_rate, learning_rate=0.1),
    "scale_by_learning_rate_schedule": entry(optim.scale_by_learning_rate, learning_rate=lambda t: 0.1 / (1 + t)),
    "scale_by_schedule": entry(optim.scale_by_schedule, step_size_fn=lambda t: 0.5 * 0.9**t),
    "clip": entry(optim.clip, max_delta=0.1),
    "clip_by_global_norm": entry(optim.clip_by_global_norm, max_norm=0.5),
    "trace": entry(optim.trace, decay=0.9),
    "trace_nesterov": entry(optim.trace, decay=0.9, nesterov=True),
    "ema": entry(optim.ema, decay=0.9),
    "scale_by_rss": entry(optim.scale_by_rss),
    "scale_by_rms": entry(optim.scale_by_rms),
    "scale_by_rms_centered": entry(optim.scale_by_rms, centered=True, initial_scale=0.1),
    "scale_by_rms_debiased": entry(optim.scale_by_rms, eps_in_sqrt=False, bias_correction=True),
    "scale_by_adadelta": entry(optim.scale_by_adadelta),
    "scale_by_adam": entry(optim.scale_by_adam),
    "scale_by_adam_mu_dtype": entry(optim.scale_by_adam, mu_dtype=jnp.bfloat16, nesterov=True, rtol=1e-2),
    "scale_by_rprop": entry(optim.scale_by_rprop),
    "scale_by_adaptive_gains": entry(optim.scale_by_adaptive_gains),
    "add_decayed_weights": entry(optim.add_decayed_weights, weight_decay=1e-2),
    "sign": entry(optim.sign),
    # the lectures' optimizers
    "sgd": entry(optim.sgd, learning_rate=0.1),
    "sgd_momentum": entry(optim.sgd, learning_rate=0.1, momentum=0.9),
    "sgd_nesterov": entry(optim.sgd, learning_rate=0.1, momentum=0.9, nesterov=True),
    "adagrad": entry(optim.adagrad, learning_rate=0.1),
    "rmsprop": entry(optim.rmsprop, learning_rate=0.01),
    "rmsprop_centered_momentum": entry(optim.rmsprop, learning_rate=0.01, centered=True, momentum=0.9),
    "adadelta": entry(optim.adadelta),
    "adadelta_weight_decay": entry(optim.adadelta, weight_decay=1e-2),
    "adam": entry(optim.adam, learning_rate=1e-2),
    "adamw": entry(optim.adamw, learning_rate=1e-2),
    "rprop": entry(optim.rprop),
    "adaptive_gains": entry(optim.adaptive_gains, momentum=0.5),
    # modern first-order optimizers (optim/transforms/, optim/aliases/, optim/wrappers/)
    "scale_by_adamax": entry(optim.scale_by_adamax),
    "scale_by_amsgrad": entry(optim.scale_by_amsgrad),
    "scale_by_belief": entry(optim.scale_by_belief),
    "scale_by_nadam": entry(optim.scale_by_nadam),
    "scale_by_radam": entry(optim.scale_by_radam),
    "scale_by_lion": entry(optim.scale_by_lion),
    "scale_by_lars": entry(optim.scale_by_lars),
    "scale_by_trust_ratio": entry(optim.scale_by_trust_ratio),
    "scale_by_factored_rms": entry(optim.scale_by_factored_rms, min_dim_size_to_factor=2, static_args=("min_dim_size_to_factor", "step_offset")),
    "scale_by_param_block_rms": entry(optim.scale_by_param_block_rms),
    "clip_by_block_rms": entry(optim.clip_by_block_rms, threshold=1.0),
    "scale_by_muon": entry(optim.scale_by_muon, select=matrices),
    "add_noise": entry(optim.add_noise),
    "set_to_zero": entry(optim.set_to_zero),
    "ema_params": entry(optim.ema_params),
    "adabelief": entry(optim.adabelief),
    "adafactor": entry(optim.adafactor, learning_rate=1e-2, min_dim_size_to_factor=2, static_args=("min_dim_size_to_factor", "decay_offset"), descends=as_is, start=mixed),
    "adamax": entry(optim.adamax),
    "amsgrad": entry(optim.amsgrad),
    "lamb": entry(optim.lamb),
    "lars": entry(optim.lars),
    "lion": entry(optim.lion),
    "muon": entry(optim.muon),
    "nadam": entry(optim.nadam),
    "noisy_sgd": entry(optim.noisy_sgd),
    "radam": entry(optim.radam),
    "schedule_free_adamw": entry(optim.schedule_free_adamw),
    "schedule_free_sgd": entry(optim.schedule_free_sgd),
    # wrappers around an inner optimizer (optim/wrappers/, optim/flat/fused.py); two steps: MultiSteps
    # accumulates on the first and steps on the second, lookahead syncs on the second, and SAM
    # ascends on the first call and descends on the second.
    "MultiSteps": entry(optim.MultiSteps, opt=optim.adam(1e-2), every_k_schedule=2),
    "lookahead": entry(optim.lookahead, fast=optim.adam(1e-2), sync_period=2),
    "masked": entry(optim.masked, inner=optim.adam(1e-2), mask=lambda p: jax.tree.map(lambda x: x.ndim >= 1, p)),
    "partition": entry(optim.partition, transforms={"a": optim.adam(1e-2), "f": optim.set_to_zero()}, param_labels=lambda p: jax.tree.map(lambda x: "a" if x.ndim == 2 else "f", p)),
    "apply_if_finite": entry(optim.apply_if_finite, inner=optim.adam(1e-2), max_consecutive_errors=3),
    # patience=1: the second step cuts the scale (the raw gradient, applied, raises the loss).
    "reduce_on_plateau": entry(optim.reduce_on_plateau, patience=1),
    "sam": entry(optim.sam, optimizer=optim.sgd(0.1), rho=0.05, descends=as_is, start=mixed),
    "schedule_free": entry(optim.schedule_free, base_optimizer=optim.sgd(0.1), learning_rate=0.1),
    "fused": entry(optim.fused, tx=optim.adam(1e-2)),
    "with_extra_args_support": entry(optim.with_extra_args_support, tx=optim.adam(1e-2)),
    "elementwise": entry(optim.elementwise, tx=optim.adam(1e-2)),
    # optax's wrappers under optax's names (tests/test_optax_wrappers.py compares them with optax)
    "conditionally_mask": entry(optim.conditionally_mask, inner=optim.adam(1e-2), should_transform_fn=lambda step: step % 2 == 0),
    "conditionally_transform": entry(optim.conditionally_transform, inner=optim.scale_by_adam(), should_transform_fn=lambda step: step >= 1, descends=then_scale(-0.1), start=halves),
    "monitor": entry(optim.monitor, measures={"norm": lambda u: optim.tree_global_norm(u).astype(jnp.float32), "ema": optim.measure_with_ema(lambda u: optim.tree_global_norm(u).astype(jnp.float32), 0.9)}),
    "snapshot": entry(optim.snapshot, measure_name="norm", measure=lambda u: optim.tree_global_norm(u).astype(jnp.float32)),
    "measure_with_ema": entry(optim.measure_with_ema, measure=lambda u: u, decay=0.9),
    "flatten": entry(optim.flatten, inner=optim.adam(1e-2), descends=as_is, start=halves),
    # second order and line searches (optim/second_order/): they read value=, grad= and
    # value_fn= (the quadratic `loss` of test_contract.py, so every trial is real). For
    # bfloat16 params they compute in float32 (linesearch.value_dtype) and cast the updates back,
    # so bfloat16 is covered like the other dtypes.
    "newton": entry(optim.newton, reads_objective=True),
    "bfgs": entry(optim.bfgs, reads_objective=True),
    "lbfgs": entry(optim.lbfgs, memory_size=3, reads_objective=True),
    "scale_by_newton": entry(optim.scale_by_newton, damping=0.5, solver="cg", reads_objective=True),  # newton covers the dense solver
    "scale_by_bfgs": entry(optim.scale_by_bfgs, scale_init_precond=True),  # reads params only
    "scale_by_lbfgs": entry(optim.scale_by_lbfgs, memory_size=3),
    "scale_by_backtracking_linesearch": entry(optim.scale_by_backtracking_linesearch, decrease_factor=0.5, reads_objective=True, descent=True),
    # increase_factor=inf: every search starts at max_learning_rate (as in newton()).
    "scale_by_backtracking_linesearch_restart": entry(optim.scale_by_backtracking_linesearch, increase_factor=math.inf, max_learning_rate=2.0, reads_objective=True, descent=True),
    "scale_by_zoom_linesearch": entry(optim.scale_by_zoom_linesearch, reads_objective=True, descent=True),
    # optax's small transforms, wrappers and optimizers (tests/test_optax_transforms.py)
    "zero_nans": entry(optim.zero_nans),
    "keep_params_nonnegative": entry(optim.keep_params_nonnegative),
    "centralize": entry(optim.centralize),
    "scale_by_sign": entry(optim.scale_by_sign),
    "apply_every": entry(optim.apply_every, k=2),
    "stateless_with_tree_map": entry(optim.stateless_with_tree_map, f=lambda u, p: 0.5 * u),
    "scale_by_yogi": entry(optim.scale_by_yogi),
    "scale_by_stddev": entry(optim.scale_by_stddev),
    # Debiased, step 1's variance is g^2 - g^2, left to rounding: eager and jit round it
    # differently (the formula is optax's, and so is the ill-conditioning), hence eps and rtol.
    "scale_by_stddev_debiased": entry(optim.scale_by_stddev, bias_correction=True, eps=1e-2,
                                      rtol=1e-4),
    "freeze": entry(optim.freeze, mask=lambda p: jax.tree.map(lambda x: x.ndim == 0, p)),
    "selective_transform": entry(optim.selective_transform, optimizer=optim.adam(1e-2), freeze_mask=lambda p: jax.tree.map(lambda x: x.ndim == 0, p)),
    "sign_sgd": entry(optim.sign_sgd, learning_rate=1e-3, descends=as_is, start=mixed),
    "signum": entry(optim.signum, learning_rate=1e-3, descends=as_is, start=mixed),
    "yogi": entry(optim.yogi, learning_rate=0.01, descends=as_is, start=mixed),
    "nadamw": entry(optim.nadamw, learning_rate=0.01, descends=as_is, start=mixed),
    "adamaxw": entry(optim.adamaxw, learning_rate=0.01, descends=as_is, start=mixed),
    # optax's optimizers and building blocks that had no counterpart (tests/test_optax_optimizers.py);
    # the Polyak step reads the contract's value=.
    "scale_by_adan": entry(optim.scale_by_adan),
    "adan": entry(optim.adan, learning_rate=0.01, weight_decay=1e-2, descends=as_is, start=mixed),
    "scale_by_novograd": entry(optim.scale_by_novograd, weight_decay=1e-2),
    "novograd": entry(optim.novograd, learning_rate=0.01, descends=as_is, start=mixed),
    "scale_by_sm3": entry(optim.scale_by_sm3, static_args=("b1", "b2", "eps")),
    "sm3": entry(optim.sm3, learning_rate=0.1, static_args=("momentum",), descends=as_is, start=mixed),
    "fromage": entry(optim.fromage, learning_rate=0.01, descends=as_is, start=halves),
    "scale_by_optimistic_gradient": entry(optim.scale_by_optimistic_gradient, alpha=0.5, beta=1.0),
    "optimistic_gradient_descent": entry(optim.optimistic_gradient_descent, learning_rate=0.1, descends=as_is, start=mixed),
    "optimistic_adam": entry(optim.optimistic_adam, learning_rate=0.01, static_args=("learning_rate", "optimism")),
    "optimistic_adam_v2": entry(optim.optimistic_adam_v2, learning_rate=0.01, descends=as_is, start=mixed),
    "scale_by_polyak": entry(optim.scale_by_polyak, max_learning_rate=0.5),
    "polyak_sgd": entry(optim.polyak_sgd, max_learning_rate=0.5, descends=as_is, start=halves),
    "scale_by_distance_over_gradients": entry(optim.scale_by_distance_over_gradients, static_args=("param_dtype",)),
    "scale_by_param_block_norm": entry(optim.scale_by_param_block_norm),
    "normalize_by_update_norm": entry(optim.normalize_by_update_norm, scale_factor=0.5),
    "adaptive_grad_clip": entry(optim.adaptive_grad_clip, clipping=0.1, static_args=("axis",)),
    # The optimizers checked for descent with the hyperparameters of their own tests (the
    # entries above with other values keep theirs): the modern aliases ...
    "nadam_0.01": entry(optim.nadam, learning_rate=0.01, descends=as_is, start=mixed),
    "amsgrad_0.01": entry(optim.amsgrad, learning_rate=0.01, descends=as_is, start=mixed),
    "adamax_0.01": entry(optim.adamax, learning_rate=0.01, descends=as_is, start=mixed),
    "radam_0.01": entry(optim.radam, learning_rate=0.01, descends=as_is, start=mixed),
    "adabelief_0.01": entry(optim.adabelief, learning_rate=0.01, descends=as_is, start=mixed),
    "lion_decay_0.01": entry(optim.lion, learning_rate=0.001, weight_decay=0.01, descends=as_is, start=mixed),
    "lamb_decay_0.01": entry(optim.lamb, learning_rate=0.01, weight_decay=0.01, descends=as_is, start=mixed),
    "lars_decay_1e-4": entry(optim.lars, learning_rate=0.1, weight_decay=1e-4, descends=as_is, start=mixed),
    "noisy_sgd_key_0": entry(optim.noisy_sgd, learning_rate=0.01, key=0, descends=as_is, start=mixed),
    "muon_adam_0.001": entry(optim.muon, learning_rate=0.02, adam_learning_rate=0.001, descends=as_is, start=mixed),
    "schedule_free_sgd_0.1": entry(optim.schedule_free_sgd, learning_rate=0.1, descends=as_is, start=mixed),
    "schedule_free_adamw_warmup": entry(optim.schedule_free_adamw, learning_rate=0.01, warmup_steps=5, descends=as_is, start=mixed),
    # ... and the wrappers, two of them with a tree of the example params' leaves.
    "partition_three_groups": entry(optim.partition, transforms=three_groups(), param_labels=LABELS, descends=as_is, start=halves, whole_tree=True),
    "masked_mask_tree": entry(optim.masked, inner=optim.scale_by_adam(), mask=MASK, descends=then_scale(-0.1), start=halves, whole_tree=True),
    "apply_if_finite_0.1": entry(optim.apply_if_finite, inner=optim.adam(0.1), max_consecutive_errors=3, descends=as_is, start=halves),
    "MultiSteps_0.1": entry(optim.MultiSteps, opt=optim.adam(0.1), every_k_schedule=2, descends=as_is, start=halves),
    "lookahead_0.1": entry(optim.lookahead, fast=optim.adam(0.1), descends=as_is, start=halves),
    "ema_params_after_adam": entry(optim.ema_params, decay=0.9, descends=after(optim.adam(0.1)), start=halves),
}

# Exported names that are not optimizers or transforms (NamedTuple states, named *State, are
# recognised on their own).
NOT_OPTIMIZERS = {
    # types and core functions
    "GradientTransformation", "OptState", "Params", "ScalarOrSchedule", "Schedule", "Updates",
    "apply_updates", "chain", "named_chain", "find_fields", "get_field", "set_field",
    "inject_hyperparams",  # tested in test_hyperparams.py and below, on every entry
    "ElementwiseTransformation", "ParamsRequiredError", "is_elementwise", "states", "tree",
    "contrib",  # its optimizers are compared with optax.contrib in tests/test_contrib_*.py
    "projections",  # functions of trees, compared with optax in tests/test_optax_projections.py
    # pytree helpers
    "tree_add", "tree_add_scaled", "tree_all_finite", "tree_cast", "tree_global_norm",
    "tree_scale", "tree_sub", "tree_sum_of_squares", "tree_vdot", "tree_where", "tree_zeros_like",
    # helpers of the modern optimizers and wrappers
    "MaskedNode", "eval_params", "raise_if_gave_up", "schedule_free_eval_params",
    "orthogonalize_via_newton_schulz", "FlatTree", "FusionError", "check_fusable",
    "unflatten", "fused_step", "state_shardings",
    # the minimize driver, landscapes and analysis
    "Landscape", "MinimizeResult", "Trajectory", "analysis", "landscapes", "minimize",
    "condition_number", "gradient_check", "hessian_vector_product", "learning_rate_regime",
    "lr_range_test", "optimal_learning_rate", "top_hessian_eigenvalue",
    # optax's utilities: functions of arrays and trees, and MultiSteps' skip rules
    "init_empty_state", "scale_gradient", "global_norm", "safe_norm", "safe_root_mean_squares",
    "safe_increment", "safe_int32_increment", "incremental_update", "periodic_update",
    "skip_not_finite", "skip_large_updates",
    # optax's API: types, the stateful injection (as inject_hyperparams) and the line-search
    # helper (multi_transform is partition, registered under that name).
    "GradientTransformationExtraArgs", "TransformInitFn", "TransformUpdateFn",
    "TransformUpdateExtraArgsFn", "MaskOrFn", "ShouldSkipUpdateFunction", "StatefulSchedule",
    "WrappedSchedule", "LookaheadParams", "InjectHyperparamsState",
    "InjectStatefulHyperparamsState", "MultiTransformState", "ConditionallyMaskState",
    "ConditionallyTransformState", "MonitorState", "SnapshotState", "inject_stateful_hyperparams",
    "value_and_grad_from_state", "flatten_params",
    # optax's per-example clipping: functions of a batch of gradient trees
    "per_example_global_norm_clip", "per_example_layer_norm_clip",
    # optax's schedule names (tested in test_optax_schedule_names.py)
    "constant_schedule", "cosine_decay_schedule", "cosine_onecycle_schedule", "exponential_decay",
    "join_schedules", "linear_onecycle_schedule", "linear_schedule", "piecewise_constant_schedule",
    "piecewise_interpolate_schedule", "polynomial_schedule", "sgdr_schedule",
    "warmup_constant_schedule", "warmup_cosine_decay_schedule", "warmup_exponential_decay_schedule",
    # optax's losses (tested in test_optax_losses.py) and tree functions (test_optax_tree.py)
    "losses", "tree_utils", "convex_kl_divergence", "cosine_distance", "cosine_similarity",
    "ctc_loss", "ctc_loss_with_forward_probs", "generalized_kl_divergence", "hinge_loss",
    "huber_loss", "kl_divergence", "l2_loss", "log_cosh", "ntxent", "safe_softmax_cross_entropy",
    "sigmoid_binary_cross_entropy", "sigmoid_focal_loss", "smooth_labels", "softmax_cross_entropy",
    "softmax_cross_entropy_with_integer_labels", "squared_error", "bias_correction",
    "update_infinity_moment", "update_moment", "update_moment_per_elem_norm", "tree_map_params",
    # optax's linear algebra, distribution, microbatching and line-search info (tested in
    # test_optax_utilities.py)
    "power_iteration", "matrix_inverse_pth_root", "nnls", "multi_normal", "microbatch",
    "microbatching", "ZoomLinesearchInfo",
}
