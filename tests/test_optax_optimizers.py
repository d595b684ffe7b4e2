"""optax's remaining optimizers and building blocks under their optax names, each against
optax 0.2.8 over 20 jitted steps on a nested pytree (float32, and float64 under x64); then
optax's state types and field names, and the keywords ported scripts pass. The paper rules in
plain NumPy and the build-time errors are in test_optax_optimizers_rules.py."""

import contextlib
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from optax_compare import assert_close, compare, grads_at, start

import optim


def no_scalar(tree):
    """The matrix and the vector of the example tree: optax's SM3 fails on a scalar leaf, and
    its DoG makes a scalar leaf's update a vector of one entry."""
    return {"w": tree["w"], "v": tree["rest"][0]}


def loss(params):
    return 0.5 * sum(jnp.sum(jnp.square(p)) for p in jax.tree.leaves(params)) + 0.1


def optimistic_adam(m, *args, **kwargs):
    with warnings.catch_warnings():  # optax's is deprecated in favour of optimistic_adam_v2
        warnings.simplefilter("ignore", DeprecationWarning)
        return m.optimistic_adam(*args, **kwargs)


FIRST = {"state": lambda s: s[0]}  # the weight decay's state: a count here, empty in optax
SCALARS = {"select": no_scalar}
CASES = {
    "scale_by_adan": (lambda m: m.scale_by_adan(), {}),
    "scale_by_adan_args": (lambda m: m.scale_by_adan(0.9, 0.8, 0.95, 1e-6, 1e-8), {}),
    "adan": (lambda m: m.adan(0.01, weight_decay=0.1), FIRST),
    "adan_mask": (lambda m: m.adan(0.01, weight_decay=0.1, mask={"w": True, "rest": False}),
                  FIRST),
    "scale_by_novograd": (lambda m: m.scale_by_novograd(weight_decay=0.01), {}),
    "novograd": (lambda m: m.novograd(0.01, b2=0.5), {}),
    "scale_by_sm3": (lambda m: m.scale_by_sm3(), SCALARS),
    "scale_by_sm3_b2": (lambda m: m.scale_by_sm3(0.5, 0.9), SCALARS),
    "sm3": (lambda m: m.sm3(0.1), SCALARS),
    "fromage": (lambda m: m.fromage(0.1), {"state": lambda s: s[:2]}),
    "fromage_schedule": (lambda m: m.fromage(lambda t: 0.1 / (1 + t)),
                         {"state": lambda s: s[:2]}),
    "scale_by_optimistic_gradient": (lambda m: m.scale_by_optimistic_gradient(0.5, 2.0), {}),
    "optimistic_gradient_descent": (lambda m: m.optimistic_gradient_descent(0.1), {}),
    "optimistic_adam": (lambda m: optimistic_adam(m, 0.01, 0.02), {}),
    "optimistic_adam_v2": (lambda m: m.optimistic_adam_v2(0.01, alpha=0.5, beta=2.0), {}),
    "scale_by_polyak": (lambda m: m.scale_by_polyak(f_min=0.05, max_learning_rate=0.3),
                        {"value": loss}),
    "polyak_sgd": (lambda m: m.polyak_sgd(0.5, variant="sps+"), {"value": loss}),
    "scale_by_distance_over_gradients": (
        lambda m: m.chain(m.scale_by_distance_over_gradients(), m.scale(-1.0)),
        {"select": no_scalar, "state": lambda s: jax.tree.map(jnp.ravel, s[0])}),
    "scale_by_param_block_norm": (lambda m: m.scale_by_param_block_norm(0.5), {}),
    "normalize_by_update_norm": (lambda m: m.normalize_by_update_norm(0.3), {}),
    "adaptive_grad_clip": (lambda m: m.adaptive_grad_clip(0.1), {}),
    "adaptive_grad_clip_axis": (lambda m: m.adaptive_grad_clip(0.2, 1e-2, axis=0), SCALARS),
}
# Decays become arrays before arithmetic here (value_at), so `1 - 0.999` is rounded in
# float32 where optax computes it in Python: up to ~1e-4 apart in float32.
MOVING_AVERAGES = {
    "scale_by_adan", "scale_by_adan_args", "adan", "adan_mask", "scale_by_novograd",
    "novograd", "scale_by_sm3", "scale_by_sm3_b2", "sm3", "optimistic_adam",
    "optimistic_adam_v2", "fromage", "fromage_schedule",
}




def broadcasting(name):
    """optax's DoG multiplies a vector of one entry into each leaf: it needs rank promotion."""
    if name == "scale_by_distance_over_gradients":
        return jax.numpy_rank_promotion("allow")
    return contextlib.nullcontext()


@pytest.mark.parametrize("name", CASES)
def test_same_as_optax_float32(name):
    make, kwargs = CASES[name]
    rtol = 1e-4 if name in MOVING_AVERAGES else 1e-5
    with broadcasting(name):
        compare(make(optim), make(optax), jnp.float32, rtol, atol=1e-6, **kwargs)


@pytest.mark.parametrize("name", ["scale_by_adan", "adan_mask", "scale_by_novograd",
                                  "scale_by_sm3_b2", "fromage", "optimistic_adam",
                                  "polyak_sgd", "scale_by_distance_over_gradients",
                                  "adaptive_grad_clip"])
def test_same_as_optax_float64(name, x64):
    make, kwargs = CASES[name]
    with broadcasting(name):
        compare(make(optim), make(optax), jnp.float64, 1e-9, atol=1e-12, **kwargs)


# -- per-example clipping ------------------------------------------------------------------


def batched(dtype=jnp.float32):
    rng = np.random.default_rng(3)
    # Example 2 is all zeros (its norm is 0, left as it is); the others differ in size.
    scales = np.array([0.1, 3.0, 0.0, 1.0])
    out = {"w": rng.normal(size=(4, 3, 2)) * scales[:, None, None],
           "b": [rng.normal(size=(4, 2)) * scales[:, None], rng.normal(size=(4,)) * scales]}
    return jax.tree.map(lambda x: jnp.asarray(x, dtype), out)


@pytest.mark.parametrize("clip", [0.5, 2.0])
def test_per_example_global_norm_clip_as_optax(clip):
    ours = jax.jit(optim.per_example_global_norm_clip)(batched(), clip)
    theirs = optax.per_example_global_norm_clip(batched(), clip)
    assert_close(ours, theirs, 1e-6)


@pytest.mark.parametrize("uniform", [True, False])
def test_per_example_layer_norm_clip_as_optax(uniform):
    ours = optim.per_example_layer_norm_clip(batched(), 1.5, uniform)
    theirs = optax.per_example_layer_norm_clip(batched(), 1.5, uniform)
    assert jax.tree.structure(ours) == jax.tree.structure(theirs)
    assert_close(ours, theirs, 1e-6)


def test_per_example_clipping_needs_a_batch_axis():
    for bad in ({"a": jnp.ones(3), "b": jnp.ones(())}, {"a": jnp.ones(3), "b": jnp.ones((2, 2))}):
        with pytest.raises(ValueError, match="batch axis"):
            optim.per_example_global_norm_clip(bad, 1.0)
        with pytest.raises(ValueError, match="batch axis"):
            optim.per_example_layer_norm_clip(bad, 1.0)
    with pytest.raises(ValueError, match="l2_norm_clip must be in"):
        optim.per_example_global_norm_clip(batched(), -1.0)


# -- optax's state types and field names ---------------------------------------------------


def test_state_field_names_as_optax():
    params = start(jnp.float32)
    for ours, theirs in [
        (optim.ScaleByAdanState, optax.ScaleByAdanState),
        (optim.ScaleByNovogradState, optax.ScaleByNovogradState),
        (optim.ScaleBySM3State, optax.ScaleBySM3State),
        (optim.ScaleByOptimisticGradientState,
         optax._src.transform.ScaleByOptimisticGradientState),
        (optim.ScaleByDistanceOverGradientsState,
         optax._src.transform.ScaleByDistanceOverGradientsState),
        (optim.AdaptiveGradClipState, optax.AdaptiveGradClipState),
        (optim.ClipState, optax.ClipState),
        (optim.ClipByGlobalNormState, optax.ClipByGlobalNormState),
        (optim.ScaleState, optax.ScaleState),
        (optim.ScaleByTrustRatioState, optax.ScaleByTrustRatioState),
    ]:
        assert ours._fields == theirs._fields, ours
    assert type(optim.scale_by_adan().init(params)) is optim.ScaleByAdanState
    assert optim.scale_by_adan().init(params).t.dtype == jnp.int32
    assert optim.scale_by_novograd().init(params).nu["w"].shape == ()
    for name in ("clip", "clip_by_global_norm", "scale", "scale_by_trust_ratio"):
        args = {"clip": (1.0,), "clip_by_global_norm": (1.0,), "scale": (2.0,)}.get(name, ())
        state_type = {"clip": optim.ClipState, "clip_by_global_norm": optim.ClipByGlobalNormState,
                      "scale": optim.ScaleState}.get(name, optim.ScaleByTrustRatioState)
        assert type(getattr(optim, name)(*args).init(params)) is state_type


def test_lbfgs_state_read_by_optax_names():
    """optax's ScaleByLBFGSState field names read the same arrays as this library's."""
    params = {"a": jnp.arange(3.0), "b": jnp.ones((2,))}
    tx = optim.scale_by_lbfgs(memory_size=3)
    state = tx.init(params)
    for t in range(3):
        _, state = tx.update(jax.tree.map(lambda p, t=t: p * (t + 2.0), params), state, params)
        params = jax.tree.map(lambda p: 0.9 * p, params)
    assert optim.ScaleByLBFGSState is optim.ScaleByLbfgsState
    assert set(optax.ScaleByLBFGSState._fields) <= set(dir(state))
    assert state.diff_params_memory is state.diff_params
    assert state.diff_updates_memory is state.diff_updates
    assert state.weights_memory is state.rho
    assert state.params is state.prev_params and state.updates is state.prev_updates
    assert optim.get_field(state, "rho") is state.rho  # this library's names still work


# -- keywords of ported scripts ------------------------------------------------------------


def test_noisy_sgd_and_add_noise_take_seed():
    params = start(jnp.float32)
    for make in (lambda **k: optim.noisy_sgd(0.1, **k), lambda **k: optim.add_noise(0.1, 0.55, **k)):
        by_seed, by_key = make(seed=5), make(key=5)
        a = by_seed.update(grads_at(0, jnp.float32), by_seed.init(params), params)[0]
        b = by_key.update(grads_at(0, jnp.float32), by_key.init(params), params)[0]
        assert_close(a, b, 0, 0)
        with pytest.raises(ValueError, match="seed"):
            make(seed=1, key=2)


def test_adadelta_weight_decay_mask():
    mask = {"w": True, "rest": False}
    compare(optim.adadelta(0.5, weight_decay=0.1, weight_decay_mask=mask),
            optax.adadelta(0.5, weight_decay=0.1, weight_decay_mask=mask), jnp.float32, 1e-4,
            state=lambda s: (s[1].e_g, s[1].e_x))


@pytest.mark.parametrize("mode", ["hard", "smooth", "refined"])
def test_scale_by_lion_modes(mode):
    compare(optim.scale_by_lion(mode=mode, smooth_beta=3.0),
            optax.scale_by_lion(mode=mode, smooth_beta=3.0), jnp.float32, 1e-4, atol=1e-6,
            scale_grads=0.3)
