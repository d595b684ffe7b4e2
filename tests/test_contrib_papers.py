"""momo, momo_adam, sophia and galore of optim.contrib against plain-NumPy float64
transcriptions of their papers' rules (with optax's conventions where it departs, as the
docstrings say), over 20 jitted steps."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_contrib_methods import STEPS, A, loss, np_grad, start, trajectory, with_value

import optim
import optim.contrib as contrib


def np_momo(x, steps, lr, beta, lb, wd):
    """Schaipp et al. 2023, Algorithm 1 (MoMo), float64."""
    d = gam = f = None
    out = []
    for t in range(steps):
        g = np_grad(x)
        value = float(loss(jax.tree.map(jnp.asarray, x)))
        flat_g, flat_x = np.concatenate([v.ravel() for v in jax.tree.leaves(g)]), np.concatenate(
            [v.ravel() for v in jax.tree.leaves(x)])
        if t == 0:
            d, f, gam = flat_g, value, flat_g @ flat_x
        else:
            d = beta * d + (1 - beta) * flat_g
            f = beta * f + (1 - beta) * value
            gam = beta * gam + (1 - beta) * flat_g @ flat_x
        h = max(0.0, (1 + lr * wd) * (f - lb - gam) + d @ flat_x) / (d @ d)
        tau = min(lr, h)
        new = flat_x / (1 + lr * wd) - tau * d  # optax's placement of the decay
        x = unflatten(new, x)
        out.append(x)
    return out


def unflatten(flat, like):
    leaves, treedef = jax.tree.flatten(like)
    parts, i = [], 0
    for leaf in leaves:
        parts.append(flat[i:i + leaf.size].reshape(leaf.shape))
        i += leaf.size
    return treedef.unflatten(parts)


def np_flat(tree):
    return np.concatenate([np.asarray(v, np.float64).ravel() for v in jax.tree.leaves(tree)])


def np_momo_adam(x, steps, lr, b1, b2, eps, lb, wd):
    """Schaipp et al. 2023, Algorithm 3 (MoMo-Adam), float64."""
    n = np_flat(x).size
    d, v, f, gam = np.zeros(n), np.zeros(n), 0.0, 0.0
    out = []
    for t in range(1, steps + 1):
        flat_x, flat_g = np_flat(x), np_flat(np_grad(x))
        value = float(loss(jax.tree.map(jnp.asarray, x)))
        d = b1 * d + (1 - b1) * flat_g
        v = b2 * v + (1 - b2) * flat_g**2
        f = b1 * f + (1 - b1) * value
        gam = b1 * gam + (1 - b1) * flat_g @ flat_x
        precond = eps + np.sqrt(v / (1 - b2**t))
        rho = 1 - b1**t
        h = max(0.0, (1 + lr * wd) * (f - rho * lb - gam) + d @ flat_x) / (d @ (d / precond))
        tau = min(lr / rho, h)
        x = unflatten(flat_x / (1 + lr * wd) - tau * d / precond, x)
        out.append(x)
    return out


def np_sophia(x, steps, lr, b1, b2, eps, gamma, rho, k, wd):
    """Liu et al. 2023, Algorithm 1 with the exact Hessian diagonal, float64 (optax's
    conventions: bias-corrected momentum, the previous estimate, the clip at rho)."""
    n = np_flat(x).size
    m, h = np.zeros(n), np.zeros(n)
    out = []
    for t in range(1, steps + 1):
        flat_x, flat_g = np_flat(x), np_flat(np_grad(x))
        m = b1 * m + (1 - b1) * flat_g
        ratio = np.clip(m / (1 - b1**t) / np.maximum(gamma * h, eps), -rho, rho)
        if (t - 1) % k == 0:
            h = b2 * h + (1 - b2) * (np_flat(A) + 1.2 * flat_x**2)
        x = unflatten(flat_x - lr * (ratio + wd * flat_x), x)
        out.append(x)
    return out


def exact_diagonal(contrib_module):
    """A Hessian-diagonal transform giving the loss's exact diagonal, a + 1.2 x^2."""

    def update(updates, state, params=None, **extra):
        return jax.tree.map(lambda a, p: (a + 1.2 * p**2).astype(p.dtype), A, params), state

    return optim.GradientTransformation(lambda params: optim.EmptyState(), update)


def np_galore(x, steps, lr, rank, b1=0.9, b2=0.999, eps=1e-8):
    """Zhao et al. 2024, Algorithm 2 with Adam, the projector from step 1's gradient (kept),
    vectors updated by plain Adam, float64."""
    state, projectors = {}, {}
    out = []
    for t in range(1, steps + 1):
        grads = np_grad(x)
        new = {}
        for name, g in [("w", grads["w"]), ("b", grads["b"]), ("deep", grads["deep"][0])]:
            if g.ndim == 2:
                left = g.shape[0] >= g.shape[1]
                if t == 1:
                    u, _, vt = np.linalg.svd(g, full_matrices=False)
                    projectors[name] = u[:, :rank] if left else vt[:rank].T
                p = projectors[name]
                r = p.T @ g if left else g @ p
            else:
                r = g
            m, v = state.get(name, (np.zeros_like(r), np.zeros_like(r)))
            m, v = b1 * m + (1 - b1) * r, b2 * v + (1 - b2) * r**2
            state[name] = (m, v)
            n = (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
            if g.ndim == 2:
                n = projectors[name] @ n if left else n @ projectors[name].T
            new[name] = n
        x = {"w": x["w"] - lr * new["w"], "b": x["b"] - lr * new["b"],
             "deep": [x["deep"][0] - lr * new["deep"]]}
        out.append(x)
    return out


PAPERS = {
    "momo": (lambda: contrib.momo(0.5, beta=0.8, lower_bound=-1.0, weight_decay=0.01),
             lambda x: np_momo(x, STEPS, 0.5, 0.8, -1.0, 0.01), with_value),
    "momo_adam": (lambda: contrib.momo_adam(0.1, weight_decay=0.05),
                  lambda x: np_momo_adam(x, STEPS, 0.1, 0.9, 0.999, 1e-8, 0.0, 0.05), with_value),
    "sophia": (lambda: contrib.sophia(0.05, gamma=0.05, update_interval=3,
                                      hessian_diagonal_fn=exact_diagonal(contrib)),
               lambda x: np_sophia(x, STEPS, 0.05, 0.965, 0.99, 1e-8, 0.05, 1.0, 3, 1e-4),
               lambda v: {}),
    "galore": (lambda: contrib.galore(0.05, rank=1, update_proj_gap=100),
               lambda x: np_galore(x, STEPS, 0.05, 1), lambda v: {}),
}


@pytest.mark.parametrize("name", sorted(PAPERS))
def test_matches_the_papers_rule_in_numpy(name, x64):
    build, reference, extra = PAPERS[name]
    # GaLore's SVD runs in float32 (optax's choice, followed), so its projector is float32's.
    rtol, atol = (1e-6, 1e-7) if name == "galore" else (1e-9, 1e-11)
    ours = trajectory(build(), start(jnp.float64), extra=extra)
    expected = reference(jax.tree.map(lambda v: np.asarray(v, np.float64), start(jnp.float64)))
    for t in [0, 4, STEPS - 1]:
        mine = jax.tree.map(lambda a, t=t: a[t], ours)
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=rtol, atol=atol), mine,
                     expected[t])


