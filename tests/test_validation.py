"""Bad input fails loudly and early: hyperparameters when the optimizer is built (a ValueError
naming the argument, its range and the value), tree or shape mismatches at update (naming both
sides), non-float params at init (naming the leaf)."""

import math

import jax
import jax.numpy as jnp
import pytest
from optim_helpers import params_like

import optim

NAN = float("nan")

# (factory, keyword arguments with one bad value, the argument named in the error)
BAD = [
    (optim.scale, {"step_size": NAN}, "step_size"),
    (optim.scale_by_learning_rate, {"learning_rate": -0.1}, "learning_rate"),
    (optim.scale_by_learning_rate, {"learning_rate": NAN}, "learning_rate"),
    (optim.clip, {"max_delta": 0.0}, "max_delta"),
    (optim.clip, {"max_delta": -1.0}, "max_delta"),
    (optim.clip_by_global_norm, {"max_norm": 0.0}, "max_norm"),
    (optim.trace, {"decay": 1.5}, "decay"),
    (optim.trace, {"decay": -0.1}, "decay"),
    (optim.ema, {"decay": 1.0}, "decay"),
    (optim.scale_by_rss, {"initial_accumulator_value": -1.0}, "initial_accumulator_value"),
    (optim.scale_by_rss, {"eps": -1e-7}, "eps"),
    (optim.scale_by_rms, {"decay": 1.0}, "decay"),
    (optim.scale_by_rms, {"eps": -1.0}, "eps"),
    (optim.scale_by_rms, {"initial_scale": -0.5}, "initial_scale"),
    (optim.scale_by_adadelta, {"rho": 1.0}, "rho"),
    (optim.scale_by_adadelta, {"eps": 0.0}, "eps"),
    (optim.scale_by_adam, {"b1": 1.5}, "b1"),
    (optim.scale_by_adam, {"b2": 1.0}, "b2"),
    (optim.scale_by_adam, {"b2": NAN}, "b2"),
    (optim.scale_by_adam, {"eps": -1e-8}, "eps"),
    (optim.scale_by_adam, {"eps_root": -1e-8}, "eps_root"),
    (optim.scale_by_rprop, {"learning_rate": 0.0}, "learning_rate"),
    (optim.scale_by_rprop, {"eta_minus": 1.0}, "eta_minus"),
    (optim.scale_by_rprop, {"eta_minus": 0.0}, "eta_minus"),
    (optim.scale_by_rprop, {"eta_plus": 1.0}, "eta_plus"),
    (optim.scale_by_rprop, {"min_step_size": 0.0}, "min_step_size"),
    (optim.scale_by_rprop, {"min_step_size": 1.0, "max_step_size": 0.5}, "max_step_size"),
    (optim.scale_by_adaptive_gains, {"increase": 0.0}, "increase"),
    (optim.scale_by_adaptive_gains, {"decrease": 1.0}, "decrease"),
    (optim.scale_by_adaptive_gains, {"min_gain": 0.0}, "min_gain"),
    (optim.scale_by_adaptive_gains, {"min_gain": 2.0}, "min_gain"),
    (optim.scale_by_adaptive_gains, {"max_gain": 0.5}, "max_gain"),
    (optim.add_decayed_weights, {"weight_decay": -1e-4}, "weight_decay"),
    (optim.sgd, {"learning_rate": -0.01}, "learning_rate"),
    (optim.sgd, {"momentum": 1.5}, "momentum"),  # the user's name, not trace's "decay"
    (optim.adagrad, {"initial_accumulator_value": -0.1}, "initial_accumulator_value"),
    (optim.rmsprop, {"decay": 1.2}, "decay"),
    (optim.rmsprop, {"learning_rate": -1e-3}, "learning_rate"),
    (optim.adadelta, {"rho": -0.5}, "rho"),
    (optim.adadelta, {"weight_decay": -1.0}, "weight_decay"),
    (optim.adam, {"b1": 1.0}, "b1"),
    (optim.adam, {"learning_rate": NAN}, "learning_rate"),
    (optim.adamw, {"weight_decay": -0.1}, "weight_decay"),
    (optim.rprop, {"eta_plus": 0.5}, "eta_plus"),
    (optim.adaptive_gains, {"increase": -0.05}, "increase"),
]


@pytest.mark.parametrize(
    "factory, kwargs, argument",
    BAD,
    ids=[f"{f.__name__}-{'-'.join(map(str, k.values()))}" for f, k, _ in BAD],
)
def test_bad_hyperparameter_raises_naming_argument_range_and_value(factory, kwargs, argument):
    value = kwargs[argument] if argument in kwargs else next(iter(kwargs.values()))
    with pytest.raises(ValueError) as e:
        factory(**kwargs)
    message = str(e.value)
    assert message.startswith(f"{argument} must be in "), message
    assert f"got {value!r}" in message, message
    assert "[" in message or "(" in message  # the allowed range


def test_the_range_is_written_exactly():
    with pytest.raises(ValueError, match=r"^b1 must be in \[0, 1\), got 1\.5$"):
        optim.adam(b1=1.5)
    with pytest.raises(ValueError, match=r"^max_delta must be in \(0, inf\), got 0\.0$"):
        optim.clip(0.0)


def test_good_edge_values_are_accepted():
    optim.trace(0.0)
    optim.trace(1.0)  # a plain sum of gradients, allowed
    optim.scale_by_adam(0.0, 0.0, 0.0)
    optim.scale_by_rss(0.0, 0.0)
    optim.scale_by_rprop(min_step_size=0.5, max_step_size=0.5)
    optim.scale_by_adaptive_gains(min_gain=1.0, max_gain=1.0)
    optim.add_decayed_weights(0.0)
    optim.sgd(0.0)


def test_schedules_and_arrays_where_numbers_go():
    # A schedule is not checked at build time; a numeric array scalar is.
    optim.adam(lambda t: 1e-3, b1=lambda t: 0.9)
    optim.adam(jnp.float32(1e-3), b1=jnp.asarray(0.9))
    with pytest.raises(ValueError, match=r"b1 must be in \[0, 1\)"):
        optim.adam(b1=jnp.asarray(1.5))


def test_non_scalar_and_non_number_hyperparameters_name_the_argument():
    with pytest.raises(ValueError, match=r"^b1 must be a scalar, got an array of shape \(2,\)"):
        optim.adam(b1=jnp.ones(2))
    with pytest.raises(TypeError, match=r"^eps must be a number, got '1e-8'"):
        optim.adam(eps="1e-8")


def test_scale_by_schedule_needs_a_callable():
    with pytest.raises(TypeError, match="step_size_fn must be a callable"):
        optim.scale_by_schedule(0.1)


# -- structure and shape mismatches at update ----------------------------------------------------

STATEFUL = {
    "trace": lambda: optim.trace(0.9),
    "ema": lambda: optim.ema(0.9),
    "scale_by_rss": optim.scale_by_rss,
    "scale_by_rms": optim.scale_by_rms,
    "scale_by_adadelta": optim.scale_by_adadelta,
    "scale_by_adam": optim.scale_by_adam,
    "scale_by_rprop": optim.scale_by_rprop,
    "scale_by_adaptive_gains": optim.scale_by_adaptive_gains,
    "add_decayed_weights": lambda: optim.add_decayed_weights(0.1),
    "sgd_momentum": lambda: optim.sgd(0.1, 0.9),
    "adagrad": optim.adagrad,
    "rmsprop": optim.rmsprop,
    "adadelta": optim.adadelta,
    "adam": optim.adam,
    "adamw": optim.adamw,
    "rprop": optim.rprop,
    "adaptive_gains": optim.adaptive_gains,
}


@pytest.mark.parametrize("name", STATEFUL)
def test_tree_structure_mismatch_names_both_sides(name):
    tx = STATEFUL[name]()
    params = params_like()
    state = tx.init(params)
    grads = dict(params, extra=jnp.zeros(2))
    with pytest.raises(ValueError, match="different tree structures") as e:
        jax.jit(tx.update)(grads, state, params)
    message = str(e.value)
    first, second = message.split(" have different")[0].split(" and ")
    assert first in ("updates", "grads") and (second.startswith("state.") or second == "params")
    assert "['extra']" in message  # the offending leaf is shown


@pytest.mark.parametrize("name", STATEFUL)
def test_shape_mismatch_names_both_sides_and_the_leaf(name):
    tx = STATEFUL[name]()
    params = params_like()
    state = tx.init(params)
    grads = dict(params, b=jnp.zeros(5))
    with pytest.raises(ValueError, match=r"differ in shape at \['b'\]: .* has \(5,\), .* has \(4,\)"):
        jax.jit(tx.update)(grads, state, params)


ALIASES = [optim.sgd, optim.adagrad, optim.rmsprop, optim.adadelta, optim.adam, optim.adamw,
           optim.rprop, optim.adaptive_gains]


@pytest.mark.parametrize("factory", ALIASES, ids=lambda f: f.__name__)
@pytest.mark.parametrize("dtype", [jnp.int32, jnp.bool_])
def test_integer_params_raise_at_init_naming_the_leaf(factory, dtype):
    params = {"layer": {"w": jnp.zeros((2, 2)), "steps": jnp.zeros(3, dtype)}}
    with pytest.raises(TypeError, match=r"\['layer'\]\['steps'\] has dtype " + jnp.dtype(dtype).name):
        factory().init(params)


def test_nan_is_rejected_even_where_there_is_no_upper_bound():
    with pytest.raises(ValueError, match="got nan"):
        optim.add_decayed_weights(math.nan)


@pytest.mark.parametrize("make", [
    lambda: optim.sgd(float("inf")),
    lambda: optim.adam(float("nan")),
    lambda: optim.add_decayed_weights(float("inf")),
])
def test_infinite_and_nan_hyperparameters_are_refused(make):
    with pytest.raises(ValueError, match=r"got (inf|nan)"):
        make()


@pytest.mark.parametrize("make, name", [
    (lambda s: optim.scale(s), "step_size"),
    (lambda s: optim.clip(s), "max_delta"),
    (lambda s: optim.clip_by_global_norm(s), "max_norm"),
    (lambda s: optim.rprop(eta_plus=s), "eta_plus"),
    (lambda s: optim.scale_by_adaptive_gains(increase=s), "increase"),
])
def test_a_schedule_where_only_a_number_makes_sense_is_refused(make, name):
    with pytest.raises(TypeError, match=rf"^{name} must be a number, not a schedule"):
        make(lambda count: 1.0)


# ----------------------------------------------------------------- the modern optimizers


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: optim.nadam(b1=1.5), r"b1 must be in \[0, 1\), got 1.5"),
        (lambda: optim.nadam(momentum_decay=-1.0), "momentum_decay"),
        (lambda: optim.radam(threshold=3.0), "threshold must be in"),
        (lambda: optim.lion(b2=1.0), "b2 must be in"),
        (lambda: optim.lars(trust_coefficient=-1.0), "trust_coefficient"),
        (lambda: optim.adafactor(min_dim_size_to_factor=0), "min_dim_size_to_factor"),
        (lambda: optim.adafactor(decay_rate=0.0), "decay_rate"),
        (lambda: optim.muon(ns_coeffs=(1.0, 2.0)), "ns_coeffs"),
        (lambda: optim.muon(ns_steps=0), "ns_steps"),
        (lambda: optim.muon(beta=1.0), "beta"),
        (lambda: optim.noisy_sgd(eta=-0.1), "eta"),
        (lambda: optim.schedule_free_sgd(b1=0.0), r"b1 must be in \(0, 1\]"),
        (lambda: optim.schedule_free_adamw(warmup_steps=0), "warmup_steps"),
        (lambda: optim.sam(optim.sgd(), rho=-0.1), "rho"),
    ],
)
def test_modern_hyperparameters_are_validated_when_built(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_layerwise_rules_need_params():
    grads = {"w": jnp.ones((2, 2))}
    for tx in (optim.lamb(), optim.lars(), optim.adafactor()):
        with pytest.raises(ValueError, match="needs the params"):
            tx.update(grads, tx.init(grads))
