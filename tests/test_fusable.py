"""What `optim.fused` accepts: the transforms the README calls fusable are declared elementwise
(`optim.is_elementwise`) and pass at once, foreign ones (optax's) pass through the jaxpr check,
and the per-leaf, masked and random ones raise a `FusionError`. Every fusable transform runs
under `optim.fused_step` (jitted, params and state donated) and gives the per-leaf path's
numbers; the states that start from a copy of the params (lookahead, ema_params without
debiasing) hold buffers of their own, so a step may donate params and state together."""

import functools
import importlib

import chex
import jax
import jax.numpy as jnp
import optax
import pytest
from fused_helpers import (
    DTYPES,
    TRANSFORMS,
    assert_bitwise,
    assert_rounding_close,
    cosine,
    make_grads,
    make_tree,
    moments_as_trees,
    run,
)

import optim
from optim import FusionError, check_fusable, fused, fused_step, unflatten
from optim import flatten_params as flatten


def _per_leaf_normalize():
    """Divide each leaf by its own largest entry: a per-leaf statistic, not elementwise."""
    return optim.stateless(
        lambda updates, params: jax.tree.map(lambda u: u / jnp.max(jnp.abs(u)), updates)
    )


UNSUPPORTED = {
    "lamb": (lambda: optim.lamb(1e-3), "per-leaf norm"),
    "lars": (lambda: optim.lars(1e-3), "per-leaf norm"),
    "adafactor": (lambda: optim.adafactor(1e-3), "single leaves"),
    "muon": (lambda: optim.muon(1e-3), "not an elementwise operation"),
    "masked": (
        lambda: optim.masked(optim.adam(1e-3), lambda p: jax.tree.map(lambda x: x.ndim > 1, p)),
        "treats leaves differently",
    ),
    "add_noise": (lambda: optim.add_noise(0.01, 0.55, 0), "random"),
    "optax_lamb": (lambda: optax.lamb(1e-3), "per-leaf norm"),
    "per_leaf_max": (_per_leaf_normalize, "single leaves"),
    "mask_fn": (
        lambda: optim.adamw(1e-3, mask=lambda p: jax.tree.map(lambda x: x.ndim > 1, p)),
        "treats leaves differently",
    ),
    "mask_tree": (
        lambda: optim.adamw(1e-3, mask={"dense": {"w": True, "b": False}}),
        "probe tree",
    ),
    "row_sums": (
        lambda: optim.stateless(
            lambda u, p: jax.tree.map(lambda x: x - jnp.mean(x, axis=-1, keepdims=True), u)
        ),
        "some axes only",
    ),
    "cumsum": (
        lambda: optim.stateless(lambda u, p: jax.tree.map(lambda x: jnp.cumsum(x), u)),
        "not an elementwise operation",
    ),
}


@pytest.mark.parametrize("name", UNSUPPORTED)
def test_unsupported_transforms_raise(name, key):
    make, message = UNSUPPORTED[name]
    params = make_tree(key, DTYPES["float32"])
    with pytest.raises(FusionError, match=message):
        check_fusable(make(), params)
    tx = fused(make())
    state = tx.init(params)
    with pytest.raises(FusionError, match="elementwise"):
        jax.jit(tx.update)(params, state, params)


def test_check_accepts_the_elementwise_family(key):
    params = make_tree(key, DTYPES["mixed"])
    for make in (
        *TRANSFORMS.values(),
        lambda: optim.chain(optim.clip(1.0), optim.sign(), optim.scale(-0.1)),
        lambda: optim.adagrad(0.1),
        lambda: optim.adadelta(),
        lambda: optim.rprop(),
        lambda: optax.chain(optax.clip_by_global_norm(1.0), optax.lion(1e-4)),
        lambda: optax.apply_if_finite(optax.adam(1e-3), 3),
        lambda: optim.nadam(1e-3),
        lambda: optim.amsgrad(1e-3),
        lambda: optim.adamax(1e-3),
        lambda: optim.radam(1e-3),
        lambda: optim.lion(1e-4),
        lambda: optim.apply_if_finite(optim.adam(1e-3), 3),
        lambda: optim.MultiSteps(optim.adam(1e-3), 4),
        lambda: optim.lookahead(optim.adam(1e-3), 5, 0.5),
    ):
        check_fusable(make(), params)


# -- declared elementwise -------------------------------------------------------------------

# The transforms the README calls fusable, each as the library builds it.
DECLARED = {
    "sgd": lambda: optim.sgd(0.05),
    "momentum": lambda: optim.sgd(0.05, momentum=0.9),
    "nesterov": lambda: optim.sgd(0.05, momentum=0.9, nesterov=True),
    "adam": lambda: optim.adam(1e-2),
    "adamw": lambda: optim.adamw(1e-2, weight_decay=0.1),
    "nadam": lambda: optim.nadam(1e-2),
    "amsgrad": lambda: optim.amsgrad(1e-2),
    "adamax": lambda: optim.adamax(1e-2),
    "radam": lambda: optim.radam(1e-2),
    "adabelief": lambda: optim.adabelief(1e-2),
    "rmsprop": lambda: optim.rmsprop(1e-2, centered=True, momentum=0.9),
    "adagrad": lambda: optim.adagrad(1e-1),
    "adadelta": lambda: optim.adadelta(),
    "rprop": lambda: optim.rprop(1e-2),
    "lion": lambda: optim.lion(1e-3),
    "adaptive_gains": lambda: optim.adaptive_gains(1e-2),
    "sign": lambda: optim.sign(),
    "clip": lambda: optim.clip(0.5),
    "clip_by_global_norm": lambda: optim.clip_by_global_norm(1.0),
    "add_decayed_weights": lambda: optim.add_decayed_weights(0.1),
    "ema": lambda: optim.ema(0.9),
    "scale_by_schedule": lambda: optim.scale_by_schedule(cosine),
    "adam_scheduled_learning_rate": lambda: optim.adam(cosine),
    "inject_hyperparams_adam": lambda: optim.inject_hyperparams(optim.adam)(learning_rate=1e-2),
    "MultiSteps_adam": lambda: optim.MultiSteps(optim.adam(1e-2), 2),
    "lookahead_adam": lambda: optim.lookahead(optim.adam(1e-2), 3),
    "apply_if_finite_adam": lambda: optim.apply_if_finite(optim.adam(1e-2), 3),
    "ema_params": lambda: optim.ema_params(0.9),
    "ema_params_no_debias": lambda: optim.ema_params(0.9, debias=False),
    "reduce_on_plateau": lambda: optim.reduce_on_plateau(patience=1),
    "schedule_free_sgd": lambda: optim.schedule_free_sgd(1e-2),
    "schedule_free_adamw": lambda: optim.schedule_free_adamw(1e-2),
    "sam": lambda: optim.sam(optim.sgd(0.05, momentum=0.9), rho=0.05),
}

NOT_DECLARED = {
    "lamb": lambda: optim.lamb(1e-3),
    "lars": lambda: optim.lars(1e-3),
    "adafactor": lambda: optim.adafactor(1e-3),
    "muon": lambda: optim.muon(1e-3),
    "noisy_sgd": lambda: optim.noisy_sgd(1e-2),
    "masked": lambda: optim.masked(optim.adam(1e-3), lambda p: jax.tree.map(lambda x: x.ndim > 1, p)),
    "partition": lambda: optim.partition(
        {"a": optim.adam(1e-3), "f": optim.set_to_zero()},
        lambda p: jax.tree.map(lambda x: "a" if x.ndim > 1 else "f", p),
    ),
    "adamw_mask": lambda: optim.adamw(1e-3, mask=lambda p: jax.tree.map(lambda x: x.ndim > 1, p)),
    "optax_adam": lambda: optax.adam(1e-3),  # foreign: checked on its jaxprs instead
}


@pytest.mark.parametrize("name", DECLARED)
def test_fusable_transforms_are_declared_elementwise(name):
    assert optim.is_elementwise(DECLARED[name]())


@pytest.mark.parametrize("name", NOT_DECLARED)
def test_per_leaf_masked_and_foreign_transforms_are_not_declared(name):
    assert not optim.is_elementwise(NOT_DECLARED[name]())


@pytest.fixture
def jaxpr_checks(monkeypatch):
    """The transforms `check_fusable` runs the jaxpr check on, recorded as it runs it."""
    module = importlib.import_module("optim.flat.fused")
    checked, problems = [], module.jaxpr_problems

    def recording(tx, *args, **kwargs):
        checked.append(tx)
        return problems(tx, *args, **kwargs)

    monkeypatch.setattr(module, "jaxpr_problems", recording)
    return checked


def test_only_undeclared_transforms_are_checked_on_their_jaxprs(key, jaxpr_checks):
    params = make_tree(key, DTYPES["mixed"])
    for make in DECLARED.values():
        check_fusable(make(), params)
    assert jaxpr_checks == []
    foreign = optax.adam(1e-2)
    check_fusable(foreign, params)  # fusable, by its jaxprs
    assert jaxpr_checks == [foreign]
    with pytest.raises(FusionError, match="per-leaf norm"):
        check_fusable(NOT_DECLARED["lamb"](), params)
    assert len(jaxpr_checks) == 2


# -- every fusable transform under fused_step --------------------------------------------------


# name: (transform, the comparison with the per-leaf path). Bit for bit, except within the
# existing tests' tolerances: a few units in the last place for adagrad's flat buffers
# (fused_helpers.ROUNDING), lookahead's sync and apply_if_finite's guarded moments (a
# multiply-add XLA contracts in one program and not the other), and rtol 1e-5 for an active global-norm clip, whose norm is summed in another
# order (test_fused.py::test_global_norm_clip_is_the_same_norm).
FUSED_STEP = {
    name: (make, assert_bitwise) for name, make in DECLARED.items() if name != "reduce_on_plateau"
}
FUSED_STEP["adagrad"] = (DECLARED["adagrad"], assert_rounding_close)
FUSED_STEP["lookahead_adam"] = (DECLARED["lookahead_adam"], assert_rounding_close)
FUSED_STEP["apply_if_finite_adam"] = (DECLARED["apply_if_finite_adam"], assert_rounding_close)
FUSED_STEP["clip_by_global_norm"] = (
    DECLARED["clip_by_global_norm"],
    lambda a, b, what: chex.assert_trees_all_close(a, b, rtol=1e-5, atol=1e-6),
)
FUSED_STEP["optax_adam"] = (lambda: optax.adam(1e-2), assert_bitwise)  # through the jaxpr check
STEPS = 8  # an even number: MultiSteps(k=2) and two-call SAM end on a whole step


def fused_steps(tx, params, grads_seq):
    """`optim.fused_step(tx)` over the gradients, params flat; checks that each step donated
    the buffers of the params and the moments (their inputs are deleted; a scalar the step
    never reads, such as schedule-free's b1, is pruned by jit and kept) and returns the params
    as a tree and the moments as trees."""
    step = fused_step(tx)
    flat, state = flatten(params), tx.init(flatten(params))
    for grads in grads_seq:
        buffers = [x for x in jax.tree.leaves((flat, state)) if x.ndim]
        flat, state = step(flat, state, flatten(grads))
        assert all(x.is_deleted() for x in buffers), "the params and moments were not donated"
    return unflatten(flat), moments_as_trees(state)


# The quick subset (-m "not slow") keeps a rule, an active clip, the wrappers that accumulate
# or call twice, and optax's transform.
QUICK = {"adam", "clip_by_global_norm", "MultiSteps_adam", "sam", "optax_adam"}


def fused_step_case(name):
    return pytest.param(name, marks=[] if name in QUICK else [pytest.mark.slow])


@pytest.mark.parametrize("name", [fused_step_case(n) for n in FUSED_STEP])
def test_fused_step_of_every_fusable_transform(name, key):
    """`fused_step(fused(tx))`, jitted and donated, for eight steps on a mixed tree: finite,
    and the per-leaf path's params and moments."""
    make, check = FUSED_STEP[name]
    k_params, k_grads = jax.random.split(key)
    params = make_tree(k_params, DTYPES["mixed"])
    grads_seq = make_grads(k_grads, DTYPES["mixed"], steps=STEPS)
    expected, expected_state, _ = run(make(), params, grads_seq)
    out, state = fused_steps(fused(make()), params, grads_seq)
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(out))
    check(expected_state, state, f"{name} state")
    check(expected, out, f"{name} params")
    assert not jnp.array_equal(out["dense"]["w"], params["dense"]["w"])  # the steps moved it


@pytest.mark.parametrize("donate", [True, False])
def test_reduce_on_plateau_fused_with_its_value(donate, key):
    """reduce_on_plateau reads `value=`, which fused_step does not pass: a jitted step of
    `fused(chain(sgd, reduce_on_plateau))` that passes it gives the per-leaf numbers, and the
    scale is cut on the plateau."""
    k_params, k_grads = jax.random.split(key)
    params = make_tree(k_params, DTYPES["mixed"])
    grads_seq = make_grads(k_grads, DTYPES["mixed"], steps=STEPS)
    values = [jnp.float32(3.0 + 0.1 * (i % 2)) for i in range(STEPS)]  # no improvement after 1

    def make():
        return optim.chain(optim.sgd(0.05), optim.reduce_on_plateau(patience=1))

    def steps(tx, params, grads_seq, donate_argnums):
        @functools.partial(jax.jit, donate_argnums=donate_argnums)
        def step(params, state, grads, value):
            updates, state = tx.update(grads, state, params, value=value)
            return optim.apply_updates(params, updates), state

        state = tx.init(params)
        for grads, value in zip(grads_seq, values, strict=True):
            params, state = step(params, state, grads, value)
        return params, state

    expected, expected_state = steps(make(), params, grads_seq, ())
    flat, state = steps(fused(make()), flatten(params), [flatten(g) for g in grads_seq],
                        (0, 1) if donate else ())
    assert float(optim.get_field(state, "scale")) < 1.0
    assert_bitwise(expected_state, moments_as_trees(state), "reduce_on_plateau state")
    assert_bitwise(expected, unflatten(flat), "reduce_on_plateau params")


# -- states that copy the params ----------------------------------------------------------------

COPIES_THE_PARAMS = {
    "lookahead": lambda: optim.lookahead(optim.adam(1e-2), 3),  # the slow weights
    "ema_params_no_debias": lambda: optim.ema_params(0.9, debias=False),  # the average
}


def buffers(tree):
    return {x.unsafe_buffer_pointer() for x in jax.tree.leaves(tree)}


@pytest.mark.parametrize("path", ["leaf by leaf", "fused"])
@pytest.mark.parametrize("name", COPIES_THE_PARAMS)
def test_states_that_start_from_the_params_hold_their_own_buffers(name, path, key):
    """A state initialised with a copy of the params holds its own buffers: a step donating both
    params and state runs (it would fail with 'Attempt to donate the same buffer twice') and
    computes what the undonated step does."""
    k_params, k_grads = jax.random.split(key)
    tree = make_tree(k_params, DTYPES["mixed"])
    grads_seq = make_grads(k_grads, DTYPES["mixed"], steps=6)
    make = COPIES_THE_PARAMS[name] if path == "leaf by leaf" else lambda: fused(COPIES_THE_PARAMS[name]())
    to_params = (lambda t: t) if path == "leaf by leaf" else flatten
    expected, expected_state, _ = run(make(), to_params(tree), [to_params(g) for g in grads_seq])

    def step(params, state, grads):
        updates, state = tx.update(grads, state, params)
        return optim.apply_updates(params, updates), state

    tx = make()
    params = to_params(jax.tree.map(jnp.copy, tree))
    state = tx.init(params)
    assert not buffers(params) & buffers(state), "the state holds the params' own buffers"
    donated = jax.jit(step, donate_argnums=(0, 1))
    for grads in grads_seq:
        params, state = donated(params, state, to_params(grads))
    assert_bitwise(expected_state, state, f"{name} state, {path}")
    assert_bitwise(expected, params, f"{name} params, {path}")
