"""optim.contrib's Adam family (ADOPT, AdEMAMix, simplified AdEMAMix, MADGRAD, ACProp): each
against optax.contrib 0.2.8 over 20 jitted steps (float32, and float64 under x64), the
paper's rule in NumPy float64, optax's state field names, and the build-time checks."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.contrib
import pytest
from contrib_helpers import START, STEPS, flat, numpy_run, optax_comparisons, run

import optim
from optim import contrib

# float32: this library turns each decay into an array before `1 - b` (optax computes it in
# Python): `1 - 0.9999` rounded in float32 is 6e-4 off, so AdEMAMix's slow momentum and the
# moving averages differ by that much. Otherwise 1e-6 in float32 and 1e-11 in float64, but
# for MADGRAD, whose sqrt(k + 1) optax takes in float32 also under x64.
TOLERANCE_32 = {"ademamix": 2e-3, "ademamix_scheduled": 2e-3, "acprop": 2e-3,
                "simplified_ademamix": 2e-4}
TOLERANCE_64 = {"madgrad": 2e-6}

CASES = {
    "adopt": (lambda m: m.adopt(0.05), "ScaleByAdamState"),
    "adopt_nesterov_unclipped": (
        lambda m: m.adopt(0.02, b2=0.99, nesterov=True, use_clipping=False), "ScaleByAdamState"),
    "ademamix": (lambda m: m.ademamix(0.05, weight_decay=0.01), "ScaleByAdemamixState"),
    "ademamix_scheduled": (
        lambda m: m.ademamix(0.05, b3=lambda t: 0.9 + 0.0049 * jnp.minimum(t, 20),
                             alpha=lambda t: 0.25 * jnp.minimum(t, 20)),
        "ScaleByAdemamixState"),
    "simplified_ademamix": (
        lambda m: m.simplified_ademamix(0.01, alpha=2.0, weight_decay=0.01),
        "ScaleBySimplifiedAdEMAMixState"),
    "madgrad": (lambda m: m.madgrad(0.05, weight_decay=0.01), "MadgradState"),
    "acprop": (lambda m: m.acprop(0.05, weight_decay=0.01), "ScaleByBeliefState"),
}


test_same_as_optax_float32, test_same_as_optax_float64 = optax_comparisons(
    CASES, TOLERANCE_32, TOLERANCE_64)


# --------------------------------------------------------------------------- the papers' rules


def adopt_rule(lr, b1, b2, eps):
    """Taniguchi et al. 2024, Algorithm 2: v_0 = g_0**2, then m_t = b1 m + (1 - b1)
    clip(g_t / max(sqrt(v_{t-1}), eps), t**0.25), x -= lr m_t, v_t = b2 v + (1 - b2) g_t**2."""
    def step(g, x, s):
        t, m, v = s
        if t == 0:
            return np.zeros_like(g), (1, m, g * g)
        c = t**0.25
        m = b1 * m + (1 - b1) * np.clip(g / np.maximum(np.sqrt(v), eps), -c, c)
        return -lr * m, (t + 1, m, b2 * v + (1 - b2) * g * g)
    return step


def ademamix_rule(lr, b1, b2, b3, alpha, eps, wd):
    """Pagliardini et al. 2024, Algorithm 1 (constant alpha and b3)."""
    def step(g, x, s):
        t, m1, m2, nu = s
        t += 1
        m1 = b1 * m1 + (1 - b1) * g
        m2 = b3 * m2 + (1 - b3) * g
        nu = b2 * nu + (1 - b2) * g * g
        m1_hat, nu_hat = m1 / (1 - b1**t), nu / (1 - b2**t)
        return -lr * ((m1_hat + alpha * m2) / (np.sqrt(nu_hat) + eps) + wd * x), (t, m1, m2, nu)
    return step


def simplified_ademamix_rule(lr, b1, b2, alpha, eps):
    """Pagliardini et al. 2024, simplified AdEMAMix: m = b1 m + g, u = (m + alpha g) / ..."""
    def step(g, x, s):
        t, m, n = s
        t += 1
        m = b1 * m + g
        n = b2 * n + (1 - b2) * g * g
        return -lr * (m + alpha * g) / (np.sqrt(n / (1 - b2**t)) + eps), (t, m, n)
    return step


def madgrad_rule(lr, c, eps, x0):
    """Defazio & Jelassi 2021, Algorithm 1, with lambda_k = (lr + eps) sqrt(k + 1) (optax's
    eps; the paper's lambda_k is lr sqrt(k + 1)) and momentum 1 - c."""
    def step(g, x, s):
        k, sk, nu = s
        lam = (lr + eps) * np.sqrt(k + 1)
        sk, nu = sk + lam * g, nu + lam * g * g
        z = x0 - sk / (np.cbrt(nu) + eps)
        return (1 - c) * x + c * z - x, (k + 1, sk, nu)
    return step


def test_adopt_follows_the_paper(x64):
    zeros = np.zeros(9)
    expected = numpy_run(adopt_rule(0.05, 0.9, 0.9999, 1e-6), (0, zeros, zeros))
    path = flat_path(run(contrib.adopt(0.05), jnp.float64, optim.apply_updates)[0])
    np.testing.assert_allclose(path, expected, rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(path[0], flat(START))  # the first gradient only sets v


def test_ademamix_follows_the_paper(x64):
    zeros = np.zeros(9)
    expected = numpy_run(ademamix_rule(0.05, 0.9, 0.999, 0.99, 4.0, 1e-8, 0.01),
                         (0, zeros, zeros, zeros))
    tx = contrib.ademamix(0.05, b3=0.99, alpha=4.0, weight_decay=0.01)
    np.testing.assert_allclose(flat_path(run(tx, jnp.float64, optim.apply_updates)[0]),
                               expected, rtol=1e-11, atol=1e-13)


def test_simplified_ademamix_follows_the_paper(x64):
    zeros = np.zeros(9)
    expected = numpy_run(simplified_ademamix_rule(0.01, 0.9, 0.95, 1.5, 1e-8), (0, zeros, zeros))
    tx = contrib.simplified_ademamix(0.01, b1=0.9, alpha=1.5)
    np.testing.assert_allclose(flat_path(run(tx, jnp.float64, optim.apply_updates)[0]),
                               expected, rtol=1e-11, atol=1e-13)


def test_madgrad_follows_the_paper(x64):
    zeros = np.zeros(9)
    expected = numpy_run(madgrad_rule(0.05, 0.1, 1e-6, flat(START)), (0, zeros, zeros))
    path = run(contrib.madgrad(0.05), jnp.float64, optim.apply_updates)[0]
    np.testing.assert_allclose(flat_path(path), expected, rtol=1e-11, atol=1e-13)


def flat_path(path):
    return np.concatenate(
        [np.asarray(x, np.float64).reshape(STEPS, -1) for x in jax.tree.leaves(path)], axis=1)


# --------------------------------------------------------------------------- states and dtypes


def test_state_fields_are_optax():
    for name in ["ScaleByAdemamixState", "ScaleBySimplifiedAdEMAMixState", "MadgradState"]:
        assert getattr(contrib, name)._fields == getattr(optax.contrib, name)._fields, name


def test_states_read_by_field_name():
    params = {"w": jnp.ones((2, 3)), "b": jnp.zeros(3)}
    assert type(contrib.scale_by_adopt().init(params)).__name__ == "ScaleByAdamState"
    assert type(contrib.scale_by_acprop().init(params)).__name__ == "ScaleByBeliefState"
    for tx, theirs in [
        (contrib.scale_by_adopt(), optax.contrib.scale_by_adopt()),
        (contrib.scale_by_acprop(), optax.contrib.scale_by_acprop()),
        (contrib.scale_by_ademamix(), optax.contrib.scale_by_ademamix()),
        (contrib.scale_by_simplified_ademamix(), optax.contrib.scale_by_simplified_ademamix()),
        (contrib.scale_by_madgrad(0.1), optax.contrib.scale_by_madgrad(0.1)),
    ]:
        mine, reference = tx.init(params), theirs.init(params)
        assert mine._fields == reference._fields
        for field in mine._fields:
            assert jax.tree.map(jnp.shape, getattr(mine, field)) == jax.tree.map(
                jnp.shape, getattr(reference, field))


def test_mu_dtype_and_low_precision_params():
    params = {"w": jnp.ones((2, 3), jnp.bfloat16)}
    grads = {"w": jnp.full((2, 3), 0.5, jnp.bfloat16)}
    for tx in [contrib.adopt(0.1, mu_dtype=jnp.float32),
               contrib.ademamix(0.1, mu_dtype=jnp.float32)]:
        state = tx.init(params)
        updates, state = jax.jit(tx.update)(grads, state, params)
        updates, state = jax.jit(tx.update)(grads, state, params)
        assert updates["w"].dtype == jnp.bfloat16
        inner = state[0]
        first = inner.mu if hasattr(inner, "mu") else inner.m1
        assert first["w"].dtype == jnp.float32
        assert np.all(np.isfinite(np.asarray(updates["w"], np.float32)))


def test_a_huge_gradient_keeps_the_moments_finite():
    params = {"w": jnp.ones(3)}
    grads = {"w": jnp.asarray([1e30, 1.0, -1e30], jnp.float32)}
    for tx in [contrib.adopt(0.1), contrib.ademamix(0.1), contrib.acprop(0.1)]:
        state = tx.init(params)
        for _ in range(3):
            updates, state = jax.jit(tx.update)(grads, state, params)
        assert all(np.all(np.isfinite(leaf)) for leaf in jax.tree.leaves(state))
        assert np.all(np.isfinite(updates["w"]))


# --------------------------------------------------------------------------- bad hyperparameters


BAD = [
    (lambda: contrib.adopt(0.1, b1=1.0), "b1"),
    (lambda: contrib.adopt(0.1, b2=-0.1), "b2"),
    (lambda: contrib.adopt(0.1, eps=-1.0), "eps"),
    (lambda: contrib.adopt(-0.1), "learning_rate"),
    (lambda: contrib.adopt(0.1, mu_dtype=jnp.int32), "mu_dtype"),
    (lambda: contrib.adopt(0.1, nesterov=1), "nesterov"),
    (lambda: contrib.adopt(0.1, clip_value_fn=0.25), "clip_value_fn"),
    (lambda: contrib.ademamix(0.1, b3=1.5), "b3"),
    (lambda: contrib.ademamix(0.1, alpha=float("nan")), "alpha"),
    (lambda: contrib.ademamix(0.1, weight_decay=-1.0), "weight_decay"),
    (lambda: contrib.simplified_ademamix(0.1, b2=1.0), "b2"),
    (lambda: contrib.simplified_ademamix(0.1, eps_root=-1.0), "eps_root"),
    (lambda: contrib.madgrad(0.1, momentum=1.0), "momentum"),
    (lambda: contrib.madgrad(-0.1), "learning_rate"),
    (lambda: contrib.madgrad(0.1, eps=0.0), "eps"),
    (lambda: contrib.acprop(0.1, b1=2.0), "b1"),
    (lambda: contrib.acprop(0.1, eps=-1e-16), "eps"),
]


@pytest.mark.parametrize("case", range(len(BAD)))
def test_bad_hyperparameters_raise_when_built(case):
    build, argument = BAD[case]
    with pytest.raises((ValueError, TypeError), match=rf"^{argument}\b"):
        build()


def test_madgrad_needs_the_params():
    tx = contrib.scale_by_madgrad(0.1)
    params = {"w": jnp.ones(2)}
    with pytest.raises(TypeError, match="scale_by_madgrad needs the params"):
        tx.update(params, tx.init(params))


def test_a_mismatched_tree_is_refused():
    tx = contrib.adopt(0.1)
    state = tx.init({"w": jnp.ones(2)})
    with pytest.raises(ValueError, match="updates and state.mu"):
        tx.update({"v": jnp.ones(2)}, state)


def test_no_retrace_on_the_second_step():
    params = {"w": jnp.ones(3)}
    for tx in [contrib.adopt(0.1), contrib.ademamix(0.1), contrib.madgrad(0.1),
               contrib.acprop(0.1), contrib.simplified_ademamix(0.1)]:
        traces = []

        def update(g, s, p, tx=tx, traces=traces):
            traces.append(1)
            return tx.update(g, s, p)

        step = jax.jit(update)
        state = tx.init(params)
        for _ in range(3):
            _, state = step(params, state, params)
        assert len(traces) == 1
