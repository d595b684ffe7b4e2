"""The contract every optimizer and transform of `optim` keeps, checked from one registry.

For each entry, on the quadratic `loss` below: init and update under jit keep the params' tree,
shapes and dtypes (float32, float64 under x64, bfloat16) in the updates; the state's shapes,
dtypes and weak types do not change from step to step, so step two does not retrace
(chex.assert_max_traces); the updates are finite; eagerly (no jit) it computes what it computes
under jit, on both steps; injected (inject_hyperparams) inside a `chain` it computes the same
thing. Every update is given the keyword extras `value=`, `grad=` and `value_fn=` (the line
searches, Newton and reduce_on_plateau read them; the others must ignore them). Each entry that
can run on part of the params also runs inside `MultiSteps(partition(...), k=2)` with a frozen
group, against itself alone on the mean gradients.

To add an optimizer: one line in REGISTRY, `"name": entry(optim.factory, arg=value, ...)`.
Every function exported by `optim` must be in REGISTRY or NOT_OPTIMIZERS (checked), so a new
optimizer cannot be forgotten. To keep the suite fast, all entries of one dtype are compiled
together as one program; the tests then check each entry on its own.
"""

import math
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from optim_helpers import params_like, sequence

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

    def build(self):
        return self.factory(**self.kwargs)

    def build_injected(self):
        return optim.inject_hyperparams(self.factory, self.static_args)(**self.kwargs)


def entry(
    factory, *, select=None, static_args=(), rtol=1e-5, reads_objective=False, descent=False,
    **kwargs,
) -> Entry:
    return Entry(factory, kwargs, select, static_args, rtol, reads_objective, descent)


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
    # wrappers around an inner optimizer (optim/accumulate.py, lookahead.py, partition.py,
    # wrappers.py, plateau.py, sam.py, schedule_free.py, fused.py); two steps: MultiSteps
    # accumulates on the first and steps on the second, lookahead syncs on the second, and SAM
    # ascends on the first call and descends on the second.
    "MultiSteps": entry(optim.MultiSteps, opt=optim.adam(1e-2), every_k_schedule=2),
    "lookahead": entry(optim.lookahead, fast=optim.adam(1e-2), sync_period=2),
    "masked": entry(optim.masked, inner=optim.adam(1e-2), mask=lambda p: jax.tree.map(lambda x: x.ndim >= 1, p)),
    "partition": entry(optim.partition, transforms={"a": optim.adam(1e-2), "f": optim.set_to_zero()}, param_labels=lambda p: jax.tree.map(lambda x: "a" if x.ndim == 2 else "f", p)),
    "apply_if_finite": entry(optim.apply_if_finite, inner=optim.adam(1e-2), max_consecutive_errors=3),
    # patience=1: the second step cuts the scale (the raw gradient, applied, raises the loss).
    "reduce_on_plateau": entry(optim.reduce_on_plateau, patience=1),
    "sam": entry(optim.sam, optimizer=optim.sgd(0.1), rho=0.05),
    "schedule_free": entry(optim.schedule_free, base_optimizer=optim.sgd(0.1), learning_rate=0.1),
    "fused": entry(optim.fused, tx=optim.adam(1e-2)),
    "with_extra_args_support": entry(optim.with_extra_args_support, tx=optim.adam(1e-2)),
    "elementwise": entry(optim.elementwise, tx=optim.adam(1e-2)),
    # second order and line searches (optim/second_order.py, linesearch.py): they read
    # value=, grad= and value_fn= (the quadratic `loss` below, so every trial is real). For
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
}

# Exported names that are not optimizers or transforms (NamedTuple states, named *State, are
# recognised on their own).
NOT_OPTIMIZERS = {
    # types and core functions
    "GradientTransformation", "OptState", "Params", "ScalarOrSchedule", "Schedule", "Updates",
    "apply_updates", "chain", "named_chain", "find_fields", "get_field", "set_field",
    "inject_hyperparams",  # tested in test_hyperparams.py and below, on every entry
    "ElementwiseTransformation", "ParamsRequiredError", "is_elementwise", "states", "tree",
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

def test_every_exported_optimizer_is_registered():
    covered = {
        name for name in optim.__all__
        if any(getattr(optim, name) is e.factory for e in REGISTRY.values())
    }
    states = {
        name for name in optim.__all__
        if name.endswith("State") and isinstance(getattr(optim, name), type)
    }
    unclassified = set(optim.__all__) - covered - states - NOT_OPTIMIZERS
    assert not unclassified, (
        f"exported names missing from test_contract.py's REGISTRY (or NOT_OPTIMIZERS): "
        f"{sorted(unclassified)}"
    )
    stale = NOT_OPTIMIZERS - set(optim.__all__)
    assert not stale, f"names listed in test_contract.py but no longer exported: {sorted(stale)}"
    assert not (covered & NOT_OPTIMIZERS), f"registered and in NOT_OPTIMIZERS: {sorted(covered & NOT_OPTIMIZERS)}"


def test_registry_factories_are_exported():
    exported = {id(getattr(optim, name)) for name in optim.__all__}
    assert all(id(e.factory) in exported for e in REGISTRY.values())


# -- running every entry ---------------------------------------------------------------------


def loss(params):
    """A quadratic with a different curvature per leaf, computed in at least float32: the
    objective every entry descends (and the `value_fn` of the line searches and Newton)."""
    leaves = jax.tree.leaves(params)
    return sum(
        jnp.sum((i + 1.0) * (x.astype(jnp.promote_types(x.dtype, jnp.float32)) - 0.3) ** 2)
        for i, x in enumerate(leaves)
    )


def variants(dtype_name):
    """The transforms run for one dtype, keyed by (name, how): every entry, and for float32 each
    also injected (inject_hyperparams) inside a chain, with their entries."""
    out = {(name, "plain"): (e.build, e) for name, e in REGISTRY.items()}
    if dtype_name == "float32":
        for name, e in REGISTRY.items():
            out[name, "wrapped"] = (
                lambda e=e: optim.chain(optim.identity(), e.build_injected(), optim.identity()),
                e,
            )
    return out


# The programs below run once, on a few tiny arrays: compiling them is nearly all of the suite's
# time, and XLA:CPU compiles them about three times faster without its newer fusion emitters and
# LLVM optimizations. The arithmetic is the same (IEEE, no fast math), and test_eager_equals_jit
# compares with the default compilation, op by op. Options this XLA does not know are dropped.
FAST_COMPILE = {
    "xla_cpu_use_fusion_emitters": False,
    "xla_backend_optimization_level": 0,
    "xla_llvm_disable_expensive_passes": True,
}
try:
    jax.jit(jnp.negative, compiler_options=FAST_COMPILE).lower(1.0).compile()
except Exception:  # noqa: BLE001 - another backend or XLA version: default compilation
    FAST_COMPILE = None


def fast_jit(fn):
    return jax.jit(fn, compiler_options=FAST_COMPILE)


class Run(NamedTuple):
    params: dict  # the params of step one, per transform
    updates: tuple  # the updates of steps one and two, per transform
    states: tuple  # the states after init, step one and step two, per transform
    broken: dict  # the transforms that failed to build or trace, with their error
    retrace_error: Exception | None


_RUNS: dict = {}


def one_step(tx, params, state, e: Entry):
    """One update with every keyword extra a transform may read (value=, grad=, value_fn=; the
    others must ignore them); a line search is given the descent direction -grad."""
    value, grad = jax.value_and_grad(loss)(params)
    direction = jax.tree.map(jnp.negative, grad) if e.descent else grad
    return tx.update(direction, state, params, value=value, grad=grad, value_fn=loss)


def traceable(builds: dict, trace) -> tuple[dict, dict]:
    """Build every transform of `builds` ({key: (build, ...)}) and keep those `trace` (a
    function of the transform and the rest of the tuple) traces without error: the others go to
    `broken`, with their error, so that they are reported by their own tests and do not take the
    others down. Traced all at once first, one by one only when that fails."""
    built, broken = {}, {}
    for key, (build, *rest) in builds.items():
        try:
            built[key] = (build(), *rest)
        except Exception as error:  # noqa: BLE001 - re-raised by the entry's own tests
            broken[key] = error
    try:
        jax.eval_shape(lambda: {key: trace(*args) for key, args in built.items()})
    except Exception:  # noqa: BLE001 - one of them is broken: find which
        for key, args in list(built.items()):
            try:
                jax.eval_shape(lambda args=args: trace(*args))
            except Exception as error:  # noqa: BLE001 - re-raised by the entry's own tests
                broken[key] = error
                del built[key]
    return built, broken


def run(dtype) -> Run:
    """Two steps of every transform (the params moved by the first step's updates before the
    second), init and update each compiled once for all transforms."""
    key = jnp.dtype(dtype).name
    if key in _RUNS:
        return _RUNS[key]
    example = params_like(dtype, seed=5)

    def select(e):
        return e.select(example) if e.select else example

    def trace(tx, e):
        return one_step(tx, select(e), tx.init(select(e)), e)

    built, broken = traceable(variants(key), trace)
    transforms = {name: tx for name, (tx, _) in built.items()}
    entries = {name: e for name, (_, e) in built.items()}
    params = {name: select(e) for name, e in entries.items()}

    def update_all(params, states):
        out = {
            name: one_step(tx, params[name], states[name], entries[name])
            for name, tx in transforms.items()
        }
        updates = {n: u for n, (u, _) in out.items()}
        moved = {n: optim.apply_updates(params[n], updates[n]) for n in out}
        return moved, updates, {n: s for n, (_, s) in out.items()}

    init_all = fast_jit(lambda ps: {name: tx.init(ps[name]) for name, tx in transforms.items()})
    chex.clear_trace_counter()  # chex counts by function; update_all is traced once per dtype
    step = fast_jit(chex.assert_max_traces(update_all, n=1))
    state0 = init_all(params)
    params1, updates1, state1 = step(params, state0)
    retrace_error = None
    try:
        _, updates2, state2 = step(params1, state1)
    except AssertionError as error:  # reported by test_no_retrace_on_step_two
        retrace_error = error
        _, updates2, state2 = fast_jit(update_all)(params1, state1)
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
    """Shape, dtype and weak type of every leaf, in leaf order (a list: some states hold
    pytree nodes, such as `FlatTree`, that do not compare by value)."""
    return [
        (jnp.shape(x), jnp.result_type(x), getattr(x, "weak_type", None))
        for x in jax.tree.leaves(tree)
    ]


@pytest.mark.parametrize("name", REGISTRY)
def test_updates_keep_tree_shapes_and_dtypes(name, dtype):
    result = result_for(dtype, name)
    for updates in result.updates:
        chex.assert_trees_all_equal_shapes_and_dtypes(updates[name, "plain"], result.params[name, "plain"])
        assert all(bool(jnp.all(jnp.isfinite(u))) for u in jax.tree.leaves(updates[name, "plain"]))


@pytest.mark.parametrize("name", REGISTRY)
def test_state_shapes_and_dtypes_are_stable(name, dtype):
    states = [s[name, "plain"] for s in result_for(dtype, name).states]
    assert jax.tree.structure(states[0]) == jax.tree.structure(states[1]) == jax.tree.structure(states[2])
    assert avals(states[0]) == avals(states[1]) == avals(states[2]), (
        f"{name}: the state changes shape, dtype or weak type between steps (a retrace)"
    )


def test_no_retrace_on_step_two(dtype):
    error = run(dtype).retrace_error
    assert error is None, f"the second step retraced: {error}"


@pytest.mark.parametrize("name", REGISTRY)
def test_eager_equals_jit(name):
    """Both steps run eagerly (op by op) give the jitted updates (the wrappers that accumulate,
    sync or ascend on one step and act on the next are checked on both)."""
    result = result_for(jnp.float32, name)
    e = REGISTRY[name]
    tx, params = e.build(), result.params[name, "plain"]
    state = tx.init(params)
    for step in range(2):
        updates, state = one_step(tx, params, state, e)
        jitted = result.updates[step][name, "plain"]
        chex.assert_trees_all_equal_shapes_and_dtypes(updates, jitted)
        for eager, compiled in zip(jax.tree.leaves(updates), jax.tree.leaves(jitted), strict=True):
            scale = 1 + float(jnp.max(jnp.abs(compiled)))
            np.testing.assert_allclose(
                eager, compiled, rtol=e.rtol, atol=1e-6 * scale, err_msg=f"step {step + 1}"
            )
        params = optim.apply_updates(params, updates)


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


# -- inside partition and MultiSteps ------------------------------------------------------------

# The entries that can run on a group of the params and on accumulated gradients: all but
# those that read the objective (see Entry.reads_objective).
GROUPABLE = [name for name, e in REGISTRY.items() if not e.reads_objective]
MICRO_STEPS = 4  # two optimizer steps of MultiSteps(k=2)
# The `value=` of each micro-step: the optimizer steps see 2.0 then 2.5, a plateau (for
# reduce_on_plateau, which then cuts its scale).
VALUES = jnp.array([3.0, 2.0, 1.0, 2.5])


def frozen_labels(params):
    """Every other leaf frozen, in leaf order: the trained group is a tree with holes."""
    leaves, treedef = jax.tree.flatten(params)
    return treedef.unflatten(["frozen" if i % 2 else "train" for i in range(len(leaves))])


def trained(tree):
    """The trained leaves of `tree` as a plain list: the same leaves, without the holes."""
    labels = jax.tree.leaves(frozen_labels(tree))
    return [x for x, label in zip(jax.tree.leaves(tree), labels, strict=True) if label == "train"]


def scan_updates(tx, params, grads, values):
    """The updates of `tx` for each gradient of `grads` (stacked on a leading axis), the params
    kept fixed; `values[i]` is passed as `value=` with the i-th gradient."""

    def step(state, inputs):
        g, value = inputs
        updates, state = tx.update(g, state, params, value=value)
        return state, updates

    return jax.lax.scan(step, tx.init(params), (grads, values))[1]


def wrapped_runs(e: Entry, params, grads):
    """The entry inside `MultiSteps(partition({"train": entry, "frozen": set_to_zero()}), k=2)`
    for the micro-steps `grads`, and the entry alone on the trained leaves and on the mean
    gradient of each pair of micro-steps. (Both wrappers in one program: half the compilation
    of two.)"""
    groups = optim.partition({"train": e.build(), "frozen": optim.set_to_zero()}, frozen_labels)
    wrapped = optim.MultiSteps(groups, every_k_schedule=2)
    means = jax.tree.map(lambda g: (g[0::2] + g[1::2]) / 2, trained(grads))
    return (
        scan_updates(wrapped, params, grads, VALUES),
        scan_updates(e.build(), trained(params), means, VALUES[1::2]),
    )


_WRAPPED: dict = {}


def wrapped_result(name):
    """`wrapped_runs` of every groupable entry, compiled as one program (float32); returns
    the entry's params and its runs."""
    if not _WRAPPED:
        example = params_like(jnp.float32, seed=5)
        _, grads = sequence(MICRO_STEPS, seed=6, dtype=jnp.float32)
        inputs = {}
        for n in GROUPABLE:
            select = REGISTRY[n].select or (lambda tree: tree)
            inputs[n] = select(example), select(grads)
        builds = {n: (lambda n=n: REGISTRY[n], *inputs[n]) for n in GROUPABLE}
        built, broken = traceable(builds, wrapped_runs)
        runs = fast_jit(lambda pg: {n: wrapped_runs(REGISTRY[n], *pg[n]) for n in built})
        outputs = runs({n: inputs[n] for n in built})
        _WRAPPED.update({n: (inputs[n][0], outputs[n]) for n in built}, broken=broken)
    if name in _WRAPPED["broken"]:
        raise _WRAPPED["broken"][name]
    return _WRAPPED[name]


@pytest.mark.parametrize("name", GROUPABLE)
def test_inside_partition_and_multi_steps(name):
    """Inside `MultiSteps(partition(...), k=2)` with every other leaf frozen, under jit for four
    micro-steps (params fixed): the frozen leaves get updates of exactly 0 at every micro-step;
    the first micro-step of each pair gives updates of exactly 0 everywhere (accumulation), and
    the second gives the trained leaves what the entry alone computes on them from the pair's
    mean gradient."""
    params, (updates, alone) = wrapped_result(name)
    labels = jax.tree.leaves(frozen_labels(params))
    assert labels.count("frozen") and labels.count("train")
    rtol = max(REGISTRY[name].rtol, 1e-6)
    for step in range(MICRO_STEPS):
        u = jax.tree.map(lambda x, step=step: x[step], updates)
        chex.assert_trees_all_equal_shapes_and_dtypes(u, params)
        for leaf, label in zip(jax.tree.leaves(u), labels, strict=True):
            if label == "frozen" or step % 2 == 0:
                assert not np.any(np.asarray(leaf)), (
                    f"{name}: a {label} leaf moved at micro-step {step} "
                    f"({'accumulating' if step % 2 == 0 else 'a frozen group'})"
                )
        if step % 2 == 1:
            expected = [x[step // 2] for x in alone]
            for a, b in zip(trained(u), expected, strict=True):
                scale = 1 + float(jnp.max(jnp.abs(b.astype(jnp.float32))))
                np.testing.assert_allclose(
                    a, b, rtol=rtol, atol=1e-6 * scale, err_msg=f"{name}: micro-step {step}"
                )
