"""Hostile arguments: every numeric hyperparameter and flag of every public factory is checked
when the optimizer is built, naming the user's argument; bad states, schedules, keys and
trees get clear errors; empty trees and zero-size leaves work."""

import dataclasses
import inspect
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optim
import schedules

# The required arguments of factories that have some.
REQUIRED = {
    "scale": {"step_size": 0.5},
    "scale_by_schedule": {"step_size_fn": lambda t: 0.1},
    "scale_by_learning_rate": {"learning_rate": 0.1},
    "clip": {"max_delta": 1.0},
    "clip_by_global_norm": {"max_norm": 1.0},
    "clip_by_block_rms": {"threshold": 1.0},
    "trace": {"decay": 0.9},
    "ema": {"decay": 0.9},
    "apply_if_finite": {"inner": optim.sgd(), "max_consecutive_errors": 3},
    "MultiSteps": {"opt": optim.sgd(), "every_k_schedule": 2},
    "lookahead": {"fast": optim.sgd()},
    "sam": {"optimizer": optim.sgd()},
    "schedule_free": {"base_optimizer": optim.sgd(), "learning_rate": 0.1},
    "yogi": {"learning_rate": 0.1},
    "sign_sgd": {"learning_rate": 0.1},
    "signum": {"learning_rate": 0.1},
    # optax's optimizers that had no counterpart
    "adan": {"learning_rate": 0.1},
    "novograd": {"learning_rate": 0.1},
    "sm3": {"learning_rate": 0.1},
    "fromage": {"learning_rate": 0.1},
    "optimistic_gradient_descent": {"learning_rate": 0.1},
    "optimistic_adam": {"learning_rate": 0.1},
    "optimistic_adam_v2": {"learning_rate": 0.1},
    "adaptive_grad_clip": {"clipping": 0.1},
    # optax's wrappers
    "conditionally_mask": {"inner": optim.sgd(), "should_transform_fn": lambda step: step > 1},
    "conditionally_transform": {"inner": optim.sgd(),
                                "should_transform_fn": lambda step: step > 1},
    "multi_transform": {"transforms": {"a": optim.sgd()}, "param_labels": "a"},
    "measure_with_ema": {"measure": optim.global_norm, "decay": 0.9},
    # optax's schedule names
    "cosine_decay_schedule": {"init_value": 1.0, "decay_steps": 100},
    "cosine_onecycle_schedule": {"transition_steps": 100, "peak_value": 1.0},
    "exponential_decay": {"init_value": 1.0, "decay_rate": 0.5},
    "linear_onecycle_schedule": {"transition_steps": 100, "peak_value": 1.0},
    "linear_schedule": {"init_value": 1.0, "end_value": 0.0, "transition_steps": 100},
    "polynomial_schedule": {"init_value": 1.0, "end_value": 0.0, "power": 2.0,
                            "transition_steps": 100},
    "warmup_cosine_decay_schedule": {"init_value": 0.0, "peak_value": 1.0, "warmup_steps": 10,
                                     "decay_steps": 100},
    "warmup_exponential_decay_schedule": {"init_value": 0.0, "peak_value": 1.0,
                                          "warmup_steps": 10, "transition_steps": 100,
                                          "decay_rate": 0.5},
}
# Not factories of a transform from hyperparameters.
NOT_FACTORIES = {
    "inject_hyperparams", "stateless", "chain", "named_chain", "identity", "apply_updates",
    "fused", "fused_step", "check_fusable", "flatten", "unflatten", "minimize", "elementwise",
    "is_elementwise", "with_extra_args_support", "get_field", "set_field", "find_fields",
    "eval_params", "raise_if_gave_up", "schedule_free_eval_params", "masked", "partition",
    "orthogonalize_via_newton_schulz", "set_to_zero", "sign", "lr_range_test", "gradient_check",
    "condition_number", "hessian_vector_product", "learning_rate_regime",
    "optimal_learning_rate", "top_hessian_eigenvalue",
    # optax's functions of arrays (not factories): numerics, target updates, skip rules
    "global_norm", "safe_norm", "safe_root_mean_squares", "safe_increment",
    "safe_int32_increment", "incremental_update", "periodic_update", "scale_gradient",
    "skip_not_finite", "skip_large_updates", "init_empty_state", "stateless_with_tree_map",
    "per_example_global_norm_clip", "per_example_layer_norm_clip",
    # optax's functions of arrays, checked when they are called (tests/test_optax_losses.py,
    # test_optax_utilities.py): the losses, the linear algebra, sampling, microbatching
    *optim.losses.__all__, "power_iteration", "matrix_inverse_pth_root", "nnls",
    "multi_normal", "microbatch", "value_and_grad_from_state", "tree_map_params",
}
# Numbers any real value is fine for.
ANY_REAL = {("scale", "step_size")}


def factories():
    for name in optim.__all__:
        obj = getattr(optim, name)
        if name in NOT_FACTORIES or name.startswith("tree_"):
            continue
        if inspect.isfunction(obj) or obj is optim.MultiSteps:
            yield name, obj


def arguments(kind):
    """(factory name, argument) for every argument of that kind (a number or a flag)."""
    for name, factory in factories():
        for argument, parameter in inspect.signature(factory).parameters.items():
            default = REQUIRED.get(name, {}).get(argument, parameter.default)
            is_flag = isinstance(default, bool)
            is_number = isinstance(default, (int, float)) and not is_flag
            if (kind == "flag" and is_flag) or (kind == "number" and is_number):
                yield name, argument


NUMBERS = sorted(set(arguments("number")) - ANY_REAL)
FLAGS = sorted(f for f in set(arguments("flag")) if not f[1].endswith("mask"))  # masks: below


def build(name, **kwargs):
    return getattr(optim, name)(**{**REQUIRED.get(name, {}), **kwargs})


@pytest.mark.parametrize("name, argument", NUMBERS, ids=[f"{n}-{a}" for n, a in NUMBERS])
@pytest.mark.parametrize("bad", [math.nan, "0.1", 1 + 2j])
def test_every_numeric_hyperparameter_is_checked_naming_it(name, argument, bad):
    with pytest.raises((ValueError, TypeError)) as error:
        build(name, **{argument: bad})
    assert str(error.value).startswith(f"{argument} must be"), str(error.value)


@pytest.mark.parametrize("name, argument", FLAGS, ids=[f"{n}-{a}" for n, a in FLAGS])
def test_every_flag_is_a_boolean(name, argument):
    with pytest.raises(TypeError, match=rf"^{argument} must be True or False, got 'yes'"):
        build(name, **{argument: "yes"})


@pytest.mark.parametrize("build_, argument", [
    (lambda: optim.sgd(0.1, momentum=1.5), "momentum"),
    (lambda: optim.sgd(0.1, momentum=-0.5), "momentum"),
    (lambda: optim.rmsprop(momentum=2.0), "momentum"),
    (lambda: optim.adaptive_gains(momentum=-1.0), "momentum"),
    (lambda: optim.lars(momentum=1.5), "momentum"),
    (lambda: optim.muon(adam_b1=2.0), "adam_b1"),
    (lambda: optim.muon(adam_b2=1.0), "adam_b2"),
    (lambda: optim.muon(adam_weight_decay=-1.0), "adam_weight_decay"),
    (lambda: optim.muon(adam_learning_rate=-1.0), "adam_learning_rate"),
    (lambda: optim.muon(ns_coeffs=(math.nan, 0.0, 0.0)), "ns_coeffs"),
    (lambda: optim.adafactor(clipping_threshold=0.0), "clipping_threshold"),
    (lambda: optim.adafactor(decay_offset=-3), "decay_offset"),
    (lambda: optim.adafactor(eps=-1.0), "eps"),
    (lambda: optim.adafactor(weight_decay_rate=-1.0), "weight_decay_rate"),
    (lambda: optim.adafactor(momentum=1.5), "momentum"),
    (lambda: optim.schedule_free_adamw(learning_rate=math.nan), "learning_rate"),
    (lambda: optim.schedule_free_adamw(learning_rate=-1.0), "learning_rate"),
    (lambda: optim.schedule_free_sgd(learning_rate=-1.0), "learning_rate"),
    (lambda: optim.schedule_free_adamw(b2=1.0), "b2"),
])
def test_messages_name_the_users_argument(build_, argument):
    with pytest.raises((ValueError, TypeError)) as error:
        build_()
    assert str(error.value).startswith(f"{argument} must be"), str(error.value)


def test_negative_learning_rates_and_momenta_are_refused():
    """As PyTorch and Keras: momentum in [0, 1]; a learning rate >= 0 (to ascend, negate the
    loss, or use `scale_by_learning_rate(lr, flip_sign=False)`)."""
    for name in ["sgd", "adam", "adamw", "rmsprop", "adagrad", "adadelta", "lion", "lamb",
                 "nadam", "radam", "adamax", "amsgrad", "adabelief", "lars", "muon",
                 "noisy_sgd", "adaptive_gains", "schedule_free_sgd", "schedule_free_adamw"]:
        with pytest.raises(ValueError, match=r"^learning_rate must be in \[0, inf\)"):
            getattr(optim, name)(learning_rate=-0.1)
    with pytest.raises(ValueError, match=r"^decay must be in \[0, 1\]"):
        optim.trace(decay=-0.1)
    ascent = optim.scale_by_learning_rate(0.1, flip_sign=False)
    updates, _ = ascent.update(jnp.ones(2), ascent.init(jnp.ones(2)))
    np.testing.assert_allclose(updates, 0.1)


def test_schedules_must_give_scalars_and_be_callable_on_a_step():
    vector = lambda t: 0.1 * jnp.ones(3)
    for make in [lambda: optim.sgd(vector), lambda: optim.adam(b1=vector),
                 lambda: optim.sgd(0.1, momentum=vector), lambda: optim.scale_by_schedule(vector),
                 lambda: optim.inject_hyperparams(optim.sgd)(learning_rate=vector)]:
        with pytest.raises(ValueError, match=r"schedule step -> real scalar; the schedule "
                                             r"returns float32\[3\]"):
            make()
    with pytest.raises(TypeError, match="could not be called on a step count"):
        optim.sgd(lambda: 0.1)
    with pytest.raises(ValueError, match=r"every_k_schedule\(0\) must be a positive integer"):
        optim.MultiSteps(optim.sgd(), every_k_schedule=lambda step: jnp.zeros((), jnp.int32))


def test_multi_steps_counts_a_later_k_below_one_as_one():
    tx = optim.MultiSteps(optim.sgd(1.0), every_k_schedule=lambda step: jnp.where(step > 0, 0, 1))
    params = jnp.zeros(2)
    state = tx.init(params)
    for _ in range(3):
        updates, state = tx.update(jnp.ones(2), state, params)
        np.testing.assert_allclose(updates, -1.0)  # a step every micro-batch


def test_keys_are_checked_when_built():
    for key in [math.nan, "seed", True, -1, jnp.zeros(3)]:
        with pytest.raises((TypeError, ValueError), match="key must be"):
            optim.noisy_sgd(key=key)
    for key in [0, 7, jax.random.key(3), jax.random.key_data(jax.random.key(3))]:
        optim.add_noise(key=key)


def test_bad_states_are_named():
    params = jnp.ones(2)
    with pytest.raises(ValueError, match=r"^chain of 2 transforms got a state of type "
                                         r"NoneType; it needs the tuple of 2 states"):
        optim.adam().update(params, None, params)
    with pytest.raises(TypeError, match=r"scale_by_adam's update got a state of type "
                                        r"ScaleByRmsState; it needs the ScaleByAdamState"):
        optim.scale_by_adam().update(params, optim.scale_by_rms().init(params), params)
    with pytest.raises((TypeError, ValueError)):
        optim.adam().update(params, optim.sgd(0.1).init(params), params)
    with pytest.raises(ValueError, match="named_chain needs the dict of states"):
        optim.named_chain(("a", optim.sgd())).update(params, (), params)


ALIASES = ["sgd", "adagrad", "rmsprop", "adadelta", "adam", "adamw", "nadam", "amsgrad",
           "adamax", "radam", "adabelief", "lion", "lamb", "lars", "adafactor", "muon", "rprop",
           "adaptive_gains", "noisy_sgd", "schedule_free_sgd", "schedule_free_adamw"]
TREES = {
    "empty": {},
    "empty subtrees": {"a": [], "b": {}, "c": ()},
    "zero-size": {"m": jnp.zeros((0, 3)), "v": jnp.zeros((0,)), "t": jnp.zeros((2, 0))},
    "scalars": {"a": jnp.ones(()), "b": [jnp.full((), 2.0)]},
}


@pytest.mark.parametrize("tree", list(TREES))
@pytest.mark.parametrize("name", ALIASES)
def test_empty_trees_zero_size_and_scalar_leaves(name, tree):
    params = TREES[tree]
    tx = getattr(optim, name)()
    state = tx.init(params)
    grads = jax.tree.map(lambda p: jnp.full_like(p, 0.5), params)
    updates, state = jax.jit(tx.update)(grads, state, params)
    assert jax.tree.structure(updates) == jax.tree.structure(params)
    for u, p in zip(jax.tree.leaves(updates), jax.tree.leaves(params), strict=True):
        assert u.shape == p.shape and u.dtype == p.dtype and bool(jnp.all(jnp.isfinite(u)))


def test_inject_hyperparams_schedules_arguments_without_defaults_and_checks_static_args():
    tx = optim.inject_hyperparams(optim.scale)(step_size=lambda t: -0.1 * 0.5**t)
    params = jnp.ones(2)
    state = tx.init(params)
    for expected in [-0.1, -0.05, -0.025]:
        updates, state = tx.update(params, state, params)
        np.testing.assert_allclose(updates, expected, rtol=1e-6)
    with pytest.raises(ValueError, match=r"static_args names \['nesterv'\], which adam does not"):
        optim.inject_hyperparams(optim.adam, static_args=("nesterv",))
    tx = optim.inject_hyperparams(optim.adam)(b2=jnp.bfloat16(0.99), learning_rate=jnp.float16(1))
    assert optim.get_field(tx.init(params), "b2").dtype == jnp.bfloat16
    with pytest.raises(ValueError, match=r"^learning_rate must be in \[0, inf\)"):
        optim.inject_hyperparams(optim.sgd)(learning_rate=lambda t: -1.0 + 0 * t)  # at step 0
    optim.adam(b2=jnp.bfloat16(0.99))  # a bfloat16 number is a number


def test_step_counts_beyond_int32_are_refused_when_built():
    with pytest.raises(ValueError, match=r"^decay_steps must be at most 2147483647"):
        schedules.cosine_decay(1.0, 2**40)
    top = 2**31 - 1
    for schedule in [schedules.cosine_decay(1.0, top), schedules.step_decay(1.0, top, 0.5),
                     schedules.cyclic_triangular(0.1, 1.0, top), schedules.sgdr(1.0, top),
                     schedules.linear_warmup(0.0, 1.0, top), schedules.one_cycle(top, 1.0)]:
        values = [float(schedule(t)) for t in (0, 7, top)]
        assert all(math.isfinite(v) for v in values)
        assert float(jax.jit(schedule)(jnp.int32(top))) == values[-1]


@pytest.mark.parametrize("params_dtype", [jnp.float32, jnp.float64])
def test_reduce_on_plateau_under_x64(params_dtype, x64):
    params = jnp.ones(2, params_dtype)
    for tx in [optim.reduce_on_plateau(patience=1),
               optim.inject_hyperparams(optim.reduce_on_plateau)(patience=1, factor=0.5),
               optim.reduce_on_plateau(patience=1, cooldown=2, accumulation_size=2),
               optim.chain(optim.sgd(0.1), optim.reduce_on_plateau(patience=1))]:
        state = tx.init(params)
        step = jax.jit(lambda s, v, tx=tx: tx.update(params, s, params, value=v))
        for value in [1.0, 2.0, 3.0, jnp.float32(0.5), jnp.float64(0.25)]:
            updates, state = step(state, value)
        assert optim.get_field(state, "scale").dtype == jnp.float32
        assert bool(jnp.all(jnp.isfinite(updates)))


@jax.tree_util.register_dataclass
@dataclasses.dataclass
class Module:
    """A callable pytree, as an equinox module is."""

    w: object
    b: object

    def __call__(self, x):
        return x


def test_a_callable_pytree_mask_is_read_as_a_tree():
    params = Module(w=jnp.ones(2), b=jnp.ones(2))
    grads = Module(w=jnp.ones(2), b=jnp.ones(2))
    for tx in [optim.masked(optim.sgd(1.0), Module(w=True, b=False)),
               optim.add_decayed_weights(1.0, Module(w=True, b=False))]:
        updates, _ = tx.update(grads, tx.init(params), params)
        assert float(updates.w[0]) != 1.0 and float(updates.b[0]) == 1.0
    with pytest.raises(TypeError, match="^mask must be a tree of booleans"):
        optim.masked(optim.sgd(), "yes")
    for argument in ["weight_decay_mask", "trust_ratio_mask"]:
        with pytest.raises(TypeError, match=f"^{argument} must be a tree of booleans"):
            optim.lars(**{argument: "yes"})


@pytest.mark.parametrize("scaled", [False, True])
def test_lbfgs_first_step_scaling_follows_scale_init_precond(scaled):
    g = jnp.array([3.0, 4.0])  # ||g|| = 5
    tx = optim.scale_by_lbfgs(scale_init_precond=scaled)
    updates, _ = tx.update(g, tx.init(g), jnp.zeros(2))
    np.testing.assert_allclose(updates, g / 5.0 if scaled else g, rtol=1e-6)


def test_adafactor_before_its_decay_offset_is_finite():
    params = {"w": jnp.ones((4, 3))}
    tx = optim.adafactor(decay_offset=3, min_dim_size_to_factor=2)
    state = tx.init(params)
    for _ in range(5):
        updates, state = tx.update({"w": jnp.full((4, 3), 0.5)}, state, params)
        assert bool(jnp.all(jnp.isfinite(updates["w"])))
