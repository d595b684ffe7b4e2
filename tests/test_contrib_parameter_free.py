"""optim.contrib's parameter-free methods (Prodigy, D-Adaptation, DoG, DoWG, COCOB, Mechanic)
and its re-exports: each against optax.contrib 0.2.8 over 20 jitted steps (float32, and
float64 under x64), the paper's rule in NumPy float64, optax's state field names, and the
build-time checks."""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.contrib
import pytest
from contrib_helpers import START, STEPS, flat, numpy_run, optax_comparisons, run

import optim
from optim import contrib

# 1e-6 in float32 and 1e-11 in float64, but for Prodigy: its estimate d grows geometrically
# and carries the roundings of inner products summed in another order than optax's (1e-13 at
# step 3, 6e-10 at step 20 in float64).
TOLERANCE_32 = {"prodigy": 1e-5}
TOLERANCE_64 = {"prodigy": 1e-6}

CASES = {
    "prodigy": (lambda m: m.prodigy(1.0, weight_decay=0.01), "ProdigyState"),
    "prodigy_safeguard": (
        lambda m: m.prodigy(0.5, beta3=0.9, safeguard_warmup=True, estim_lr_coef=2.0),
        "ProdigyState"),
    "dadapt_adamw": (lambda m: m.dadapt_adamw(1.0, weight_decay=0.01), "DAdaptAdamWState"),
    "dog": (lambda m: m.dog(1.0), "DoGState"),
    "dog_learning_rate": (
        lambda m: m.dog(0.5, init_step=("learning_rate", 0.01), weight_decay=0.01), "DoGState"),
    "dog_distance": (lambda m: m.dog(1.0, init_step=("distance", 0.1)), "DoGState"),
    "dowg": (lambda m: m.dowg(1.0, weight_decay=0.01), "DoWGState"),
    "cocob": (lambda m: m.cocob(1.0, weight_decay=0.01), "COCOBState"),
    "cocob_scaled": (lambda m: m.cocob(0.5, alpha=10.0), "COCOBState"),
    "mechanize": (lambda m: m.mechanize((optim if m is contrib else optax).sgd(0.1)),
                  "MechanicState"),
}


test_same_as_optax_float32, test_same_as_optax_float64 = optax_comparisons(
    CASES, TOLERANCE_32, TOLERANCE_64)


# --------------------------------------------------------------------------- the papers' rules


def prodigy_rule(lr, b1, b2, eps, d0, wd, x0):
    """Mishchenko & Defazio 2023, Adam form, with the (1 - b3) factors of the paper and
    eta_k = lr sqrt(1 - b2**k) / (1 - b1**k)."""
    b3 = np.sqrt(b2)

    def step(g, x, s):
        k, m, v, sk, r, d = s
        k += 1
        eta = lr * np.sqrt(1 - b2**k) / (1 - b1**k)
        m = b1 * m + (1 - b1) * d * g
        v = b2 * v + (1 - b2) * d * d * g * g
        r = b3 * r + (1 - b3) * eta * d * d * np.dot(g, x0 - x)
        sk = b3 * sk + (1 - b3) * eta * d * d * g
        u = -eta * d * (m / (np.sqrt(v) + d * eps) + wd * x)
        return u, (k, m, v, sk, r, max(d, r / np.sum(np.abs(sk))))

    zeros = np.zeros_like(x0)
    return step, (0, zeros, zeros, zeros, 0.0, d0)


def dog_rule(lr, x0):
    """Ivgi et al. 2023, Algorithm 1, r_eps = 1e-6 (1 + ||x_0||), no eps."""
    def step(g, x, s):
        r, total = s
        r = max(r, np.linalg.norm(x - x0))
        total += np.dot(g, g)
        return -lr * r / np.sqrt(total) * g, (r, total)
    return step, (1e-6 * (1 + np.linalg.norm(x0)), 0.0)


def dowg_rule(lr, eps, x0):
    """Khaled et al. 2023, Algorithm 1, with optax's eps outside the root and rbar_0**2 = eps."""
    def step(g, x, s):
        sq, v = s
        sq = max(sq, np.sum((x - x0) ** 2))
        v += sq * np.dot(g, g)
        return -lr * sq / (np.sqrt(v) + eps) * g, (sq, v)
    return step, (eps, 0.0)


def cocob_rule(alpha, eps, x0):
    """Orabona & Tommasi 2017, Algorithm 2 (COCOB-Backprop), per coordinate."""
    def step(g, x, s):
        big_l, big_g, reward, theta = s
        big_l = np.maximum(big_l, np.abs(g))
        big_g = big_g + np.abs(g)
        reward = np.maximum(reward - g * (x - x0), 0)
        theta = theta - g
        new = x0 + theta / (big_l * np.maximum(big_g + big_l, alpha * big_l)) * (big_l + reward)
        return new - x, (big_l, big_g, reward, theta)
    zeros = np.zeros_like(x0)
    return step, (np.full_like(x0, eps), zeros, zeros, zeros)


def flat_path(path):
    return np.concatenate(
        [np.asarray(x, np.float64).reshape(STEPS, -1) for x in jax.tree.leaves(path)], axis=1)


def test_prodigy_follows_the_paper(x64):
    step, state = prodigy_rule(1.0, 0.9, 0.999, 1e-8, 1e-6, 0.01, flat(START))
    expected = numpy_run(step, state)
    path = run(contrib.prodigy(weight_decay=0.01), jnp.float64, optim.apply_updates)[0]
    np.testing.assert_allclose(flat_path(path), expected, rtol=1e-9, atol=1e-12)
    assert not np.allclose(expected[-1], flat(START), atol=1e-3)  # d has grown from 1e-6


def test_dog_follows_the_paper(x64):
    expected = numpy_run(*dog_rule(1.0, flat(START)))
    path = run(contrib.dog(), jnp.float64, optim.apply_updates)[0]
    # optax's eps = 1e-8 inside the root is the only difference from the paper.
    np.testing.assert_allclose(flat_path(path), expected, rtol=1e-7, atol=1e-9)


def test_dowg_follows_the_paper(x64):
    expected = numpy_run(*dowg_rule(1.0, 1e-4, flat(START)))
    path = run(contrib.dowg(), jnp.float64, optim.apply_updates)[0]
    np.testing.assert_allclose(flat_path(path), expected, rtol=1e-11, atol=1e-13)


def test_cocob_follows_the_paper(x64):
    expected = numpy_run(*cocob_rule(100.0, 1e-8, flat(START)))
    path = run(contrib.cocob(), jnp.float64, optim.apply_updates)[0]
    np.testing.assert_allclose(flat_path(path), expected, rtol=1e-11, atol=1e-13)


def test_zero_gradients_keep_the_estimate():
    """optax's D-Adaptation and Prodigy divide 0 by 0 while the gradients are 0; the estimate
    is kept instead, and the params stay put."""
    params = {"w": jnp.ones(3), "b": jnp.zeros(2)}
    zeros = jax.tree.map(jnp.zeros_like, params)
    for tx in [contrib.prodigy(), contrib.dadapt_adamw()]:
        state = tx.init(params)
        for _ in range(2):
            updates, state = jax.jit(tx.update)(zeros, state, params)
        assert float(state.estim_lr) == pytest.approx(1e-6)
        assert all(np.all(u == 0) for u in jax.tree.leaves(updates))


# --------------------------------------------------------------------------- states and names


STATE_NAMES = ["ProdigyState", "DAdaptAdamWState", "DoGState", "DoWGState", "COCOBState",
               "MechanicState"]


def test_state_fields_are_optax():
    for name in STATE_NAMES:
        assert getattr(contrib, name)._fields == getattr(optax.contrib, name)._fields, name


def test_scalar_state_of_bfloat16_params_is_float32():
    params = {"w": jnp.ones((2, 3), jnp.bfloat16)}
    grads = {"w": jnp.full((2, 3), 0.25, jnp.bfloat16)}
    for tx, field in [(contrib.prodigy(), "estim_lr"), (contrib.dadapt_adamw(), "estim_lr"),
                      (contrib.scale_by_dog(("heuristic", 1e-6)), "max_dist"),
                      (contrib.scale_by_dowg(), "estim_sq_dist"),
                      (contrib.mechanize(optim.sgd(0.1)), "s")]:
        state = tx.init(params)
        for _ in range(2):
            updates, state = jax.jit(tx.update)(grads, state, params)
        assert optim.get_field(state, field).dtype == jnp.float32
        assert updates["w"].dtype == jnp.bfloat16


def test_optax_names_are_reexported():
    """optax.contrib's names this library already had are the library's own objects."""
    for name in ["reduce_on_plateau", "ReduceLROnPlateauState", "sam", "SAMState",
                 "schedule_free", "schedule_free_adamw", "schedule_free_sgd",
                 "schedule_free_eval_params", "ScheduleFreeState"]:
        assert getattr(contrib, name) is getattr(optim, name)
        assert name in contrib.__all__
    for name in ["schedule_free", "schedule_free_adamw", "schedule_free_eval_params",
                 "reduce_on_plateau"]:
        ours = list(inspect.signature(getattr(contrib, name)).parameters)
        assert ours == list(inspect.signature(getattr(optax.contrib, name)).parameters), name


# --------------------------------------------------------------------------- bad input


BAD = [
    (lambda: contrib.prodigy(betas=(0.9, 1.0)), r"betas\[1\]"),
    (lambda: contrib.prodigy(betas=0.9), "betas"),
    (lambda: contrib.prodigy(beta3=1.0), "beta3"),
    (lambda: contrib.prodigy(estim_lr0=0.0), "estim_lr0"),
    (lambda: contrib.prodigy(estim_lr_coef=-1.0), "estim_lr_coef"),
    (lambda: contrib.prodigy(learning_rate=-1.0), "learning_rate"),
    (lambda: contrib.prodigy(safeguard_warmup="yes"), "safeguard_warmup"),
    (lambda: contrib.dadapt_adamw(betas=(1.2, 0.9)), r"betas\[0\]"),
    (lambda: contrib.dadapt_adamw(weight_decay=-0.1), "weight_decay"),
    (lambda: contrib.dog(init_step=("far", 1.0)), r"init_step\[0\]"),
    (lambda: contrib.dog(init_step=("distance", 0.0)), r"init_step\[1\]"),
    (lambda: contrib.dog(init_step=1e-6), "init_step"),
    (lambda: contrib.dog(eps=-1.0), "eps"),
    (lambda: contrib.dowg(init_estim_sq_dist=0.0), "init_estim_sq_dist"),
    (lambda: contrib.dowg(eps=0.0), "eps"),
    (lambda: contrib.cocob(alpha=0.0), "alpha"),
    (lambda: contrib.cocob(eps=0.0), "eps"),
    (lambda: contrib.cocob(learning_rate=-1.0), "learning_rate"),
    (lambda: contrib.mechanize(optim.sgd(0.1), num_betas=0), "num_betas"),
    (lambda: contrib.mechanize(optim.sgd(0.1), s_init=0.0), "s_init"),
    (lambda: contrib.mechanize(optim.sgd(0.1), weight_decay=-1.0), "weight_decay"),
    (lambda: contrib.mechanize("sgd"), "base_optimizer"),
]


@pytest.mark.parametrize("case", range(len(BAD)))
def test_bad_hyperparameters_raise_when_built(case):
    build, argument = BAD[case]
    with pytest.raises((ValueError, TypeError), match=rf"^{argument}"):
        build()


def test_params_are_required():
    params = {"w": jnp.ones(2)}
    for tx, who in [(contrib.prodigy(), "prodigy"), (contrib.dadapt_adamw(), "dadapt_adamw"),
                    (contrib.dog(), "scale_by_dog"), (contrib.dowg(), "scale_by_dowg"),
                    (contrib.scale_by_cocob(), "scale_by_cocob"),
                    (contrib.mechanize(optim.sgd(0.1)), "mechanize")]:
        with pytest.raises(TypeError, match=f"{who} needs the params"):
            tx.update(params, tx.init(params))


def test_a_mismatched_tree_is_refused():
    tx = contrib.prodigy()
    state = tx.init({"w": jnp.ones(2)})
    with pytest.raises(ValueError, match="updates and state.exp_avg"):
        tx.update({"v": jnp.ones(2)}, state, {"v": jnp.ones(2)})
