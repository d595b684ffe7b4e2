"""The contract every optimizer and transform of `optim` keeps, checked from one registry.

For each entry: init and update under jit keep the params' tree, shapes and dtypes (float32,
float64 under x64, bfloat16) in the updates; the state's shapes, dtypes and weak types do not
change from step to step, so step two does not retrace (chex.assert_max_traces); the updates are
finite; eagerly (no jit) it computes what it computes under jit; injected (inject_hyperparams)
inside a `chain` it computes the same thing.

To add an optimizer: one line in REGISTRY, `"name": entry(optim.factory, arg=value, ...)`.
Every function exported by `optim` must be in REGISTRY, NOT_OPTIMIZERS or PENDING (checked), so a
new optimizer cannot be forgotten. To keep the suite fast, all entries of one dtype are compiled
together as one program; the tests then check each entry on its own.
"""

from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from optim_helpers import params_like

import optim


class Entry(NamedTuple):
    factory: Any
    kwargs: dict
    select: Any = None  # params -> the part of the example params this entry is run on
    static_args: tuple = ()  # for inject_hyperparams: arguments that must stay Python values
    rtol: float = 1e-5  # eager against jit (a low-precision state is rounded only eagerly)

    def build(self):
        return self.factory(**self.kwargs)

    def build_injected(self):
        return optim.inject_hyperparams(self.factory, self.static_args)(**self.kwargs)


def entry(factory, *, select=None, static_args=(), rtol=1e-5, **kwargs) -> Entry:
    return Entry(factory, kwargs, select, static_args, rtol)


def matrices(params):
    return {"w": params["w"], "m": params["deep"][1][1]}


REGISTRY = {
    # core
    "identity": entry(optim.identity),
    "stateless": entry(optim.stateless, fn=lambda updates, params: updates),
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
    # modern first-order optimizers (optim/modern.py, modern_aliases.py, lion.py, layerwise.py,
    # factored.py, orthogonal.py, noise.py, schedule_free.py, wrappers.py)
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
    "adafactor": entry(optim.adafactor, learning_rate=1e-2, min_dim_size_to_factor=2, static_args=("min_dim_size_to_factor", "decay_offset")),
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
}

# Exported names that are not optimizers or transforms (NamedTuple states, named *State, are
# recognised on their own).
NOT_OPTIMIZERS = {
    # types and core functions
    "GradientTransformation", "OptState", "Params", "ScalarOrSchedule", "Schedule", "Updates",
    "apply_updates", "chain", "named_chain", "find_fields", "get_field", "set_field",
    "inject_hyperparams",  # tested in test_hyperparams.py and below, on every entry
    # pytree helpers
    "tree_add", "tree_add_scaled", "tree_all_finite", "tree_cast", "tree_global_norm",
    "tree_scale", "tree_sub", "tree_sum_of_squares", "tree_vdot", "tree_where", "tree_zeros_like",
    # helpers of the modern optimizers and wrappers
    "MaskedNode", "eval_params", "raise_if_gave_up", "schedule_free_eval_params",
    "orthogonalize_via_newton_schulz", "FlatTree", "FusionError", "check_fusable", "flatten",
    "unflatten", "fused_step",
    # the minimize driver, landscapes and analysis
    "Landscape", "MinimizeResult", "Trajectory", "analysis", "landscapes", "minimize",
    "condition_number", "gradient_check", "hessian_vector_product", "learning_rate_regime",
    "lr_range_test", "optimal_learning_rate", "top_hessian_eigenvalue",
}

# Optimizers not in the registry yet: wrappers that take an inner optimizer, and transforms that
# need `value=`/`value_fn=` extras or second-order information. Their owners' test files cover
# them; each should get a registry line (with its inner optimizer and extras) in due course.
PENDING = {
    "MultiSteps", "lookahead", "masked", "partition", "apply_if_finite", "reduce_on_plateau",
    "sam", "schedule_free", "fused",
    "newton", "bfgs", "lbfgs", "scale_by_newton", "scale_by_bfgs", "scale_by_lbfgs",
    "scale_by_backtracking_linesearch", "scale_by_zoom_linesearch",
}


def test_every_exported_optimizer_is_registered():
    covered = {
        name for name in optim.__all__
        if any(getattr(optim, name) is e.factory for e in REGISTRY.values())
    }
    states = {
        name for name in optim.__all__
        if name.endswith("State") and isinstance(getattr(optim, name), type)
    }
    unclassified = set(optim.__all__) - covered - states - NOT_OPTIMIZERS - PENDING
    assert not unclassified, (
        f"exported names missing from test_contract.py's REGISTRY (or NOT_OPTIMIZERS / PENDING): "
        f"{sorted(unclassified)}"
    )
    stale = (NOT_OPTIMIZERS | PENDING) - set(optim.__all__)
    assert not stale, f"names listed in test_contract.py but no longer exported: {sorted(stale)}"
    assert not (covered & PENDING), f"registered and still pending: {sorted(covered & PENDING)}"


def test_registry_factories_are_exported():
    exported = {id(getattr(optim, name)) for name in optim.__all__}
    assert all(id(e.factory) in exported for e in REGISTRY.values())


# -- running every entry ---------------------------------------------------------------------


def loss(params):
    leaves = jax.tree.leaves(params)
    return sum(
        jnp.sum((i + 1.0) * (x.astype(jnp.float32) - 0.3) ** 2) for i, x in enumerate(leaves)
    )


def variants(dtype_name):
    """The transforms run for one dtype, keyed by (name, how): every entry, and for float32 each
    also injected (inject_hyperparams) inside a chain, with their params selectors."""
    out = {(name, "plain"): (e.build, e.select) for name, e in REGISTRY.items()}
    if dtype_name == "float32":
        for name, e in REGISTRY.items():
            out[name, "wrapped"] = (
                lambda e=e: optim.chain(optim.identity(), e.build_injected(), optim.identity()),
                e.select,
            )
    return out


class Run(NamedTuple):
    params: dict  # per transform
    updates: tuple  # the updates of steps one and two, per transform
    states: tuple  # the states after init, step one and step two, per transform
    broken: dict  # the transforms that failed to build or trace, with their error
    retrace_error: Exception | None


_RUNS: dict = {}


def one_step(tx, params, state):
    return tx.update(jax.grad(loss)(params), state, params, value=loss(params), value_fn=loss)


def run(dtype) -> Run:
    """Two steps of every transform, init and update each compiled once for all transforms.

    Each transform is first traced on its own (no compilation), so one that fails is reported by
    its own tests and does not take the others down."""
    key = jnp.dtype(dtype).name
    if key in _RUNS:
        return _RUNS[key]
    example = params_like(dtype, seed=5)
    transforms, params, broken = {}, {}, {}
    for name, (build, select) in variants(key).items():
        try:
            tx = build()
            p = select(example) if select else example
            jax.eval_shape(lambda p, tx=tx: one_step(tx, p, tx.init(p)), p)
        except Exception as error:  # noqa: BLE001 - re-raised by the entry's own tests
            broken[name] = error
            continue
        transforms[name], params[name] = tx, p

    def update_all(params, states):
        out = {name: one_step(tx, params[name], states[name]) for name, tx in transforms.items()}
        return {n: u for n, (u, _) in out.items()}, {n: s for n, (_, s) in out.items()}

    init_all = jax.jit(lambda ps: {name: tx.init(ps[name]) for name, tx in transforms.items()})
    chex.clear_trace_counter()  # chex counts by function; update_all is traced once per dtype
    step = jax.jit(chex.assert_max_traces(update_all, n=1))
    state0 = init_all(params)
    updates1, state1 = step(params, state0)
    retrace_error = None
    try:
        updates2, state2 = step(params, state1)
    except AssertionError as error:  # reported by test_no_retrace_on_step_two
        retrace_error = error
        updates2, state2 = jax.jit(update_all)(params, state1)
    _RUNS[key] = Run(params, (updates1, updates2), (state0, state1, state2), broken, retrace_error)
    return _RUNS[key]


def result_for(dtype, name, wrapper="plain") -> Run:
    result = run(dtype)
    if (name, wrapper) in result.broken:
        raise result.broken[name, wrapper]
    return result


DTYPES = {
    "float32": jnp.float32,
    "float64": jnp.float64,
    "bfloat16": jnp.bfloat16,
}


@pytest.fixture(params=list(DTYPES))
def dtype(request):
    if request.param == "float64":
        with jax.enable_x64(True):
            yield DTYPES[request.param]
    else:
        yield DTYPES[request.param]


def avals(tree):
    return jax.tree.map(lambda x: (jnp.shape(x), jnp.result_type(x), getattr(x, "weak_type", None)), tree)


@pytest.mark.parametrize("name", REGISTRY)
def test_updates_keep_tree_shapes_and_dtypes(name, dtype):
    result = result_for(dtype, name)
    for updates in result.updates:
        chex.assert_trees_all_equal_shapes_and_dtypes(updates[name, "plain"], result.params[name, "plain"])
        assert all(bool(jnp.all(jnp.isfinite(u))) for u in jax.tree.leaves(updates[name, "plain"]))


@pytest.mark.parametrize("name", REGISTRY)
def test_state_shapes_and_dtypes_are_stable(name, dtype):
    states = [s[name, "plain"] for s in result_for(dtype, name).states]
    assert jax.tree.structure(states[0]) == jax.tree.structure(states[1])
    assert avals(states[0]) == avals(states[1]) == avals(states[2]), (
        f"{name}: the state changes shape, dtype or weak type between steps (a retrace)"
    )


def test_no_retrace_on_step_two(dtype):
    error = run(dtype).retrace_error
    assert error is None, f"the second step retraced: {error}"


@pytest.mark.parametrize("name", REGISTRY)
def test_eager_equals_jit(name):
    result = result_for(jnp.float32, name)
    tx, params = REGISTRY[name].build(), result.params[name, "plain"]
    updates, _ = one_step(tx, params, tx.init(params))
    jitted = result.updates[0][name, "plain"]
    for eager, compiled in zip(jax.tree.leaves(updates), jax.tree.leaves(jitted), strict=True):
        scale = 1 + float(jnp.max(jnp.abs(compiled)))
        np.testing.assert_allclose(eager, compiled, rtol=REGISTRY[name].rtol, atol=1e-6 * scale)


@pytest.mark.parametrize("name", REGISTRY)
def test_same_updates_injected_inside_a_chain(name):
    """`chain(identity(), inject_hyperparams(factory)(...), identity())` computes what
    `factory(...)` computes: both wrappers at once (one compilation instead of two)."""
    result = result_for(jnp.float32, name, "wrapped")
    for step in range(2):
        plain, wrapped = result.updates[step][name, "plain"], result.updates[step][name, "wrapped"]
        chex.assert_trees_all_equal_shapes_and_dtypes(plain, wrapped)
        for a, b in zip(jax.tree.leaves(plain), jax.tree.leaves(wrapped), strict=True):
            np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-7)
    state = result.states[1][name, "wrapped"]
    assert int(state[1].count) == 1  # the injected state, readable by name
    given = {k for k, v in REGISTRY[name].kwargs.items() if isinstance(v, float)}
    assert given - set(REGISTRY[name].static_args) <= set(state[1].hyperparams)
