"""The layer-wise rules (optim/transforms/layerwise.py, factored.py, orthogonal.py;
optim/aliases/layerwise.py, factored.py, orthogonal.py): LAMB, LARS, Adafactor, Muon.

Each takes lists with one array per leaf, of shape (T, *leaf_shape), and returns such a
list."""

import numpy as np

from ._helpers import _at, _norm
from .first_order import add_decayed_weights, scale_by_adam, scale_by_learning_rate, trace


def scale_by_trust_ratio(leaf_updates, leaf_params, trust_coefficient=1.0, eps=0.0):
    """LAMB's ratio per leaf and step: u * tc ||w|| / (||u|| + eps), u unchanged if a norm is 0."""
    outs = []
    for u_seq, w_seq in zip(leaf_updates, leaf_params, strict=True):
        out = np.zeros(np.shape(u_seq))
        for t in range(len(u_seq)):
            w_norm, u_norm = _norm(w_seq[t]), _norm(u_seq[t])
            ratio = 1.0 if w_norm == 0 or u_norm == 0 else trust_coefficient * w_norm / (u_norm + eps)
            out[t] = ratio * np.asarray(u_seq[t], np.float64)
        outs.append(out)
    return outs


def lamb(leaf_grads, leaf_params, learning_rate=0.001, b1=0.9, b2=0.999, eps=1e-6, eps_root=0.0, weight_decay=0.0):
    """LAMB, leaf by leaf: Adam's step r plus weight_decay w, times ||w|| / ||r + wd w||, times -lr."""
    outs = []
    for g_seq, w_seq in zip(leaf_grads, leaf_params, strict=True):
        steps, shape = len(g_seq), np.shape(g_seq)[1:]
        g_flat = np.asarray(g_seq, np.float64).reshape(steps, -1)
        w_flat = np.asarray(w_seq, np.float64).reshape(steps, -1)
        r = add_decayed_weights(scale_by_adam(g_flat, b1, b2, eps, eps_root), w_flat, weight_decay)
        (scaled,) = scale_by_trust_ratio([r], [w_flat])
        outs.append(scale_by_learning_rate(scaled, learning_rate).reshape(steps, *shape))
    return outs


def lars(leaf_grads, leaf_params, learning_rate=0.1, weight_decay=0.0, trust_coefficient=0.001, eps=0.0, momentum=0.9, nesterov=False, decay_leaves=None, trust_leaves=None):
    """LARS (You et al. 2017, Alg. 1), leaf by leaf: lambda = tc ||w|| / (||g|| + wd ||w|| + eps)
    (1 if ||w|| or the denominator is 0), then v = m v + lr lambda (g + wd w) as `trace` after the
    learning rate. `decay_leaves` / `trust_leaves` list, per leaf, whether it is decayed / rescaled."""
    outs = []
    for i, (g_seq, w_seq) in enumerate(zip(leaf_grads, leaf_params, strict=True)):
        steps, shape = len(g_seq), np.shape(g_seq)[1:]
        beta = weight_decay if decay_leaves is None or decay_leaves[i] else 0.0
        rescale = trust_leaves is None or trust_leaves[i]
        local = np.zeros((steps, int(np.prod(shape))))
        for t in range(steps):
            g = np.asarray(g_seq[t], np.float64).ravel()
            w = np.asarray(w_seq[t], np.float64).ravel()
            w_norm = _norm(w)
            denominator = _norm(g) + beta * w_norm + eps
            ratio = 1.0 if (not rescale or w_norm == 0 or denominator == 0) else trust_coefficient * w_norm / denominator
            local[t] = ratio * (g + beta * w)
        u = trace(scale_by_learning_rate(local, learning_rate), momentum, nesterov)
        outs.append(u.reshape(steps, *shape))
    return outs


def _factored_axes(shape, min_dim_size_to_factor):
    """The two largest axes of a leaf (ties broken by position), or None when the second is small."""
    if len(shape) < 2:
        return None
    order = sorted(range(len(shape)), key=lambda i: (shape[i], i))
    if shape[order[-2]] < min_dim_size_to_factor:
        return None
    return order[-2], order[-1]


def adafactor(leaf_grads, leaf_params, learning_rate=None, min_dim_size_to_factor=128, decay_rate=0.8, clipping_threshold=1.0, eps=1e-30, min_scale=1e-3):
    """Adafactor (Shazeer & Stern 2018, Algorithm 4 with beta1 = 0), leaf by leaf:
    b2_t = 1 - t^-decay_rate; for a factored leaf (rows i, columns j = its two largest axes)
    R_i = b2 R_i + (1 - b2) sum_j (G^2 + eps), C_j = b2 C_j + (1 - b2) sum_i (G^2 + eps),
    V = R C / sum_i R_i; else V = b2 V + (1 - b2)(G^2 + eps). U = G / sqrt(V),
    U /= max(1, RMS(U) / d), step = -max(min_scale, RMS(X_{t-1})) rho_t U with
    rho_t = learning_rate or min(1e-2, 1 / sqrt(t))."""
    outs = []
    for g_seq, w_seq in zip(leaf_grads, leaf_params, strict=True):
        g_seq = np.asarray(g_seq, np.float64)
        steps, shape = len(g_seq), g_seq.shape[1:]
        axes = _factored_axes(shape, min_dim_size_to_factor)
        out = np.zeros(g_seq.shape)
        state = None
        for t in range(steps):
            k = t + 1
            b2 = 1 - k ** (-decay_rate)
            g2 = g_seq[t] ** 2 + eps
            if axes is None:
                state = (1 - b2) * g2 if state is None else b2 * state + (1 - b2) * g2
                v = state
            else:
                # Move the row axis and the column axis last: [..., rows, columns].
                moved = np.moveaxis(g2, axes, (-2, -1))
                rows, cols = moved.sum(axis=-1), moved.sum(axis=-2)
                if state is None:
                    state = ((1 - b2) * rows, (1 - b2) * cols)
                else:
                    state = (b2 * state[0] + (1 - b2) * rows, b2 * state[1] + (1 - b2) * cols)
                r, c = state
                v_moved = r[..., :, None] * c[..., None, :] / r.sum(axis=-1)[..., None, None]
                v = np.moveaxis(v_moved, (-2, -1), axes)
            u = g_seq[t] / np.sqrt(v)
            if clipping_threshold is not None:
                u = u / max(1.0, np.sqrt(np.mean(u**2)) / clipping_threshold)
            rho = min(1e-2, 1 / np.sqrt(k)) if learning_rate is None else _at(learning_rate, t)
            alpha = max(min_scale, np.sqrt(np.mean(np.asarray(w_seq[t], np.float64) ** 2))) * rho
            out[t] = -alpha * u
        outs.append(out)
    return outs


def newton_schulz(matrix, coeffs=(3.4445, -4.7750, 2.0315), steps=5, eps=1e-8):
    """Jordan's zeropower_via_newtonschulz5: X = G / (||G||_F + eps), on the wide orientation;
    X <- a X + (b A + c A^2) X with A = X X^T, `steps` times."""
    a, b, c = coeffs
    x = np.asarray(matrix, np.float64)
    tall = x.shape[0] > x.shape[1]
    if tall:
        x = x.T
    x = x / (np.linalg.norm(x) + eps)
    for _ in range(steps):
        gram = x @ x.T
        x = a * x + (b * gram + c * gram @ gram) @ x
    return x.T if tall else x


def scale_by_muon(leaf_grads, beta=0.95, nesterov=True, coeffs=(3.4445, -4.7750, 2.0315), steps=5, eps=1e-8):
    """Muon (github.com/KellerJordan/Muon, muon_update): m = beta m + (1 - beta) g;
    n = beta m + (1 - beta) g (nesterov) or m; u = sqrt(max(1, fan_out / fan_in)) NS(n) for a
    (fan_in, fan_out) matrix."""
    outs = []
    for g_seq in leaf_grads:
        g_seq = np.asarray(g_seq, np.float64)
        m = np.zeros(g_seq.shape[1:])
        out = np.zeros(g_seq.shape)
        fan_in, fan_out = g_seq.shape[1:]
        for t, g in enumerate(g_seq):
            m = beta * m + (1 - beta) * g
            n = beta * m + (1 - beta) * g if nesterov else m
            out[t] = np.sqrt(max(1.0, fan_out / fan_in)) * newton_schulz(n, coeffs, steps, eps)
        outs.append(out)
    return outs

