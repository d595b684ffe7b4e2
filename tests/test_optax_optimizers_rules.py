"""The rules of test_optax_optimizers.py's optimizers from their papers, in plain NumPy
float64, against ours over 20 jitted steps under x64; then the build-time errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from optax_compare import STEPS, grads_at, start

import optim


def trajectory(tx, *, value=None):
    """20 jitted float64 steps of `tx`: per step, the params, grads and updates as NumPy
    leaves (lists in the example tree's leaf order)."""
    params = start(jnp.float64)
    state = tx.init(params)
    if value is None:
        step = jax.jit(tx.update)
    else:
        step = jax.jit(lambda g, s, p: tx.update(g, s, p, value=value(p)))
    seen = []
    for t in range(STEPS):
        g = grads_at(t, jnp.float64)
        updates, state = step(g, state, params)
        seen.append([[np.asarray(x) for x in jax.tree.leaves(tree)] for tree in (params, g, updates)])
        params = optim.apply_updates(params, updates)
    return seen


def check(seen, reference, rtol=1e-9):
    """`reference(t, params, grads) -> updates` (lists of leaves) at every step."""
    for t, (params, grads, updates) in enumerate(seen):
        for got, want in zip(updates, reference(t + 1, params, grads), strict=True):
            np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-12)


def test_adan_is_the_paper_rule(x64):
    b1, b2, b3, eps, lr = 0.9, 0.8, 0.95, 1e-6, 0.01
    seen = trajectory(optim.adan(lr, b1, b2, b3, eps, eps_root=0.0))
    m = v = n = last = None

    def reference(t, params, grads):
        nonlocal m, v, n, last
        if m is None:
            m, v, n = ([np.zeros_like(g) for g in grads] for _ in range(3))
            last = grads
        out = []
        for i, g in enumerate(grads):
            d = g - last[i]
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * d
            n[i] = b3 * n[i] + (1 - b3) * (g + (1 - b2) * d) ** 2
            m_hat, v_hat, n_hat = m[i] / (1 - b1**t), v[i] / (1 - b2**t), n[i] / (1 - b3**t)
            out.append(-lr * (m_hat + (1 - b2) * v_hat) / (np.sqrt(n_hat) + eps))
        last = grads
        return out

    check(seen, reference)


def test_novograd_is_the_paper_rule(x64):
    b1, b2, eps, decay, lr = 0.9, 0.5, 1e-6, 0.01, 0.05
    seen = trajectory(optim.novograd(lr, b1, b2, eps, weight_decay=decay))
    m = v = None

    def reference(t, params, grads):
        nonlocal m, v
        norms = [np.sum(g**2) for g in grads]
        v = norms if v is None else [b2 * a + (1 - b2) * s for a, s in zip(v, norms, strict=True)]
        steps = [g / (np.sqrt(s) + eps) + decay * w for g, s, w in zip(grads, v, params,
                                                                      strict=True)]
        m = steps if m is None else [b1 * a + s for a, s in zip(m, steps, strict=True)]
        return [-lr * a for a in m]

    check(seen, reference)


def test_sm3_is_the_paper_rule(x64):
    """SM3-II with rows and columns covering a matrix, single entries a vector or a scalar."""
    momentum, lr = 0.9, 0.1
    seen = trajectory(optim.sm3(lr, momentum))
    covers = nu = None

    def reference(t, params, grads):
        nonlocal covers, nu
        if covers is None:
            covers = [[np.zeros(n) for n in g.shape] if g.ndim >= 2 else [np.zeros(g.shape)]
                      for g in grads]
            nu = [np.zeros_like(g) for g in grads]
        out = []
        for i, g in enumerate(grads):
            if g.ndim >= 2:
                rows, cols = covers[i]
                a = np.minimum(rows[:, None], cols[None, :]) + g**2
                covers[i] = [a.max(axis=1), a.max(axis=0)]
            else:
                a = covers[i][0] + g**2
                covers[i] = [a]
            scaled = np.where(a > 0, g / np.sqrt(a + 1e-8), 0.0)
            nu[i] = momentum * nu[i] + (1 - momentum) * scaled
            out.append(-lr * nu[i])
        return out

    check(seen, reference)


def test_fromage_is_the_paper_rule(x64):
    lr = 0.1
    seen = trajectory(optim.fromage(lr))

    def reference(t, params, grads):
        norm = np.linalg.norm
        new = [(w - lr * norm(w) / norm(g) * g) / np.sqrt(1 + lr**2)
               for w, g in zip(params, grads, strict=True)]
        return [a - w for a, w in zip(new, params, strict=True)]

    check(seen, reference)


def loss(params):
    return 0.5 * sum(jnp.sum(jnp.square(p)) for p in jax.tree.leaves(params)) + 0.1


@pytest.mark.parametrize("variant", ["sps", "sps+"])
def test_polyak_sgd_is_sps_max(x64, variant):
    """Loizou et al. 2021, SPS_max: gamma = min((f - f*) / ||g||**2, gamma_b), x <- x - gamma g."""
    f_min, gamma_b = 0.5, 0.3
    seen = trajectory(optim.polyak_sgd(gamma_b, f_min=f_min, variant=variant), value=loss)

    def reference(t, params, grads):
        f = 0.5 * sum(np.sum(w**2) for w in params) + 0.1
        gap = max(f - f_min, 0.0) if variant == "sps+" else f - f_min
        gamma = min(gap / sum(np.sum(g**2) for g in grads), gamma_b)
        return [-gamma * g for g in grads]

    check(seen, reference)


def test_adaptive_grad_clip_is_the_paper_rule(x64):
    """Brock et al. 2021, eq. 3: a matrix unit by unit (its columns), a vector as a whole."""
    clipping, eps = 0.3, 1e-3
    seen = trajectory(optim.chain(optim.adaptive_grad_clip(clipping, eps), optim.scale(-0.1)))

    def reference(t, params, grads):
        out = []
        for w, g in zip(params, grads, strict=True):
            axes = (0,) if w.ndim == 2 else None
            w_norm = np.sqrt(np.sum(w**2, axis=axes, keepdims=True))
            g_norm = np.sqrt(np.sum(g**2, axis=axes, keepdims=True))
            bound = clipping * np.maximum(w_norm, eps)
            out.append(-0.1 * np.where(g_norm > bound, bound / g_norm * g, g))
        return out

    check(seen, reference)


def test_adaptive_grad_clip_needs_axis_for_six_axes():
    tx = optim.adaptive_grad_clip(0.1)
    p = {"a": jnp.ones((2,) * 6)}
    with pytest.raises(ValueError, match="axis="):
        tx.update(p, tx.init(p), p)
    tx = optim.adaptive_grad_clip(0.1, axis=(0, 1))
    assert tx.update(p, tx.init(p), p)[0]["a"].shape == (2,) * 6


def test_polyak_needs_the_loss():
    tx, p = optim.scale_by_polyak(), {"a": jnp.ones(2)}
    with pytest.raises(TypeError, match="value=loss"):
        tx.update(p, tx.init(p), p)


BAD = [
    (lambda: optim.scale_by_adan(b3=1.0), "b3 must be in"),
    (lambda: optim.adan(0.1, b1=-0.1), "b1 must be in"),
    (lambda: optim.adan(0.1, eps=-1.0), "eps must be in"),
    (lambda: optim.novograd(-0.1), "learning_rate must be in"),
    (lambda: optim.scale_by_novograd(b2=1.5), "b2 must be in"),
    (lambda: optim.novograd(0.1, weight_decay=-1.0), "weight_decay must be in"),
    (lambda: optim.sm3(0.1, momentum=1.0), "momentum must be in"),
    (lambda: optim.scale_by_sm3(b2=2.0), "b2 must be in"),
    (lambda: optim.fromage(-0.1), "learning_rate must be in"),
    (lambda: optim.fromage(0.1, min_norm=-1.0), "min_norm must be in"),
    (lambda: optim.optimistic_gradient_descent(0.1, alpha=float("nan")), "alpha must be in"),
    (lambda: optim.optimistic_adam(lambda t: 0.1), "learning_rate of optimistic_adam"),
    (lambda: optim.optimistic_adam(0.1, optimism=float("inf")), "optimism must be in"),
    (lambda: optim.optimistic_adam_v2(0.1, beta=float("inf")), "beta must be in"),
    (lambda: optim.polyak_sgd(max_learning_rate=0.0), "max_learning_rate must be in"),
    (lambda: optim.polyak_sgd(variant="sps-"), "variant must be one of"),
    (lambda: optim.scale_by_polyak(f_min=float("nan")), "f_min must be in"),
    (lambda: optim.scale_by_distance_over_gradients(reps_rel=0.0), "reps_rel must be in"),
    (lambda: optim.scale_by_distance_over_gradients(param_dtype=jnp.int32), "param_dtype"),
    (lambda: optim.scale_by_param_block_norm(-1.0), "min_scale must be in"),
    (lambda: optim.normalize_by_update_norm(eps=-1.0), "eps must be in"),
    (lambda: optim.adaptive_grad_clip(0.0), "clipping must be in"),
    (lambda: optim.adaptive_grad_clip(0.1, axis="rows"), "axis must be None"),
    (lambda: optim.scale_by_lion(mode="soft"), "mode must be one of"),
    (lambda: optim.noisy_sgd(seed=1, key=2), "a key or a seed"),
]


@pytest.mark.parametrize("case", range(len(BAD)))
def test_bad_hyperparameters_raise_when_built(case):
    build, message = BAD[case]
    with pytest.raises((ValueError, TypeError), match=message):
        build()
