"""The modern elementwise rules (optim/transforms/adam_variance.py, sign_based.py, noise.py;
optim/aliases/adam.py, sign_based.py): NAdam, AMSGrad, AdaMax, RAdam, AdaBelief, Lion and
annealed noise. Each takes `grads` (T, n) as the first-order rules do."""

import numpy as np

from ._helpers import _rows
from .first_order import add_decayed_weights, scale_by_learning_rate


def scale_by_nadam(grads, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0, momentum_decay=0.004):
    """NAdam as PyTorch writes it: mu_t = b1 (1 - 0.5 0.96^(t psi)) (mu_t = b1 if psi is None),
    m, v Adam's EMAs with b1, b2; u = [(1 - mu_t) / (1 - prod_{i<=t} mu_i) g
    + mu_{t+1} / (1 - prod_{i<=t+1} mu_i) m_t] / (sqrt(v_t / (1 - b2^t) + eps_root) + eps)."""
    grads, out = _rows(grads)
    m = np.zeros(grads.shape[1:])
    v = np.zeros(grads.shape[1:])
    product = 1.0

    def mu_at(k):
        return b1 if momentum_decay is None else b1 * (1 - 0.5 * 0.96 ** (k * momentum_decay))

    for t, g in enumerate(grads):
        k = t + 1
        product *= mu_at(k)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        denominator = np.sqrt(v / (1 - b2**k) + eps_root) + eps
        out[t] = (
            (1 - mu_at(k)) / (1 - product) * g + mu_at(k + 1) / (1 - product * mu_at(k + 1)) * m
        ) / denominator
    return out


def scale_by_amsgrad(grads, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0, debias_before_max=True):
    """AMSGrad with Adam's corrections: vmax = max(vmax, v_t / (1 - b2^t)) (optax), or
    vmax = max(vmax, v_t) then divided by 1 - b2^t (PyTorch); u = m^ / (sqrt(vmax + eps_root) + eps)."""
    grads, out = _rows(grads)
    m = np.zeros(grads.shape[1:])
    v = np.zeros(grads.shape[1:])
    v_max = np.zeros(grads.shape[1:])
    for t, g in enumerate(grads):
        k = t + 1
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        if debias_before_max:
            v_max = np.maximum(v_max, v / (1 - b2**k))
            denominator = v_max
        else:
            v_max = np.maximum(v_max, v)
            denominator = v_max / (1 - b2**k)
        out[t] = m / (1 - b1**k) / (np.sqrt(denominator + eps_root) + eps)
    return out


def scale_by_adamax(grads, b1=0.9, b2=0.999, eps=1e-8):
    """AdaMax: m EMA of g; u_t = max(b2 u_{t-1}, |g| + eps); out = m / (1 - b1^t) / u_t."""
    grads, out = _rows(grads)
    m = np.zeros(grads.shape[1:])
    u = np.zeros(grads.shape[1:])
    for t, g in enumerate(grads):
        m = b1 * m + (1 - b1) * g
        u = np.maximum(b2 * u, np.abs(g) + eps)
        out[t] = m / (1 - b1 ** (t + 1)) / u
    return out


def scale_by_radam(grads, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0, threshold=5.0):
    """RAdam: rho_t = rho_inf - 2 t b2^t / (1 - b2^t); if rho_t >= threshold the rectified Adam
    step r_t m^ / (sqrt(v^ + eps_root) + eps), else m^."""
    grads, out = _rows(grads)
    m = np.zeros(grads.shape[1:])
    v = np.zeros(grads.shape[1:])
    rho_inf = 2 / (1 - b2) - 1
    for t, g in enumerate(grads):
        k = t + 1
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1**k), v / (1 - b2**k)
        rho = rho_inf - 2 * k * b2**k / (1 - b2**k)
        if rho >= threshold:
            r = np.sqrt(
                (rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho)
            )
            out[t] = r * m_hat / (np.sqrt(v_hat + eps_root) + eps)
        else:
            out[t] = m_hat
    return out


def scale_by_belief(grads, b1=0.9, b2=0.999, eps=1e-16, eps_root=1e-16):
    """AdaBelief: s_t = b2 s + (1 - b2)(g - m_t)^2 + eps_root; u = m^ / (sqrt(s^) + eps)."""
    grads, out = _rows(grads)
    m = np.zeros(grads.shape[1:])
    s = np.zeros(grads.shape[1:])
    for t, g in enumerate(grads):
        k = t + 1
        m = b1 * m + (1 - b1) * g
        s = b2 * s + (1 - b2) * (g - m) ** 2 + eps_root
        out[t] = m / (1 - b1**k) / (np.sqrt(s / (1 - b2**k)) + eps)
    return out


def scale_by_lion(grads, b1=0.9, b2=0.99):
    """Lion: u_t = sign(b1 m_{t-1} + (1 - b1) g_t); m_t = b2 m_{t-1} + (1 - b2) g_t."""
    grads, out = _rows(grads)
    m = np.zeros(grads.shape[1:])
    for t, g in enumerate(grads):
        out[t] = np.sign(b1 * m + (1 - b1) * g)
        m = b2 * m + (1 - b2) * g
    return out


def add_noise(grads, noise, eta=0.01, gamma=0.55):
    """u_t = g_t + sqrt(eta / t^gamma) n_t (t from 1), with the standard normal samples `noise`."""
    grads, out = _rows(grads)
    for t, g in enumerate(grads):
        out[t] = g + np.sqrt(eta / (t + 1) ** gamma) * np.asarray(noise[t], np.float64)
    return out


def nadam(grads, learning_rate=0.002, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0, momentum_decay=0.004):
    return scale_by_learning_rate(
        scale_by_nadam(grads, b1, b2, eps, eps_root, momentum_decay), learning_rate
    )


def amsgrad(grads, learning_rate=0.001, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0, debias_before_max=True):
    return scale_by_learning_rate(
        scale_by_amsgrad(grads, b1, b2, eps, eps_root, debias_before_max), learning_rate
    )


def adamax(grads, learning_rate=0.002, b1=0.9, b2=0.999, eps=1e-8):
    return scale_by_learning_rate(scale_by_adamax(grads, b1, b2, eps), learning_rate)


def radam(grads, learning_rate=0.001, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0, threshold=5.0):
    return scale_by_learning_rate(scale_by_radam(grads, b1, b2, eps, eps_root, threshold), learning_rate)


def adabelief(grads, learning_rate=0.001, b1=0.9, b2=0.999, eps=1e-16, eps_root=1e-16):
    return scale_by_learning_rate(scale_by_belief(grads, b1, b2, eps, eps_root), learning_rate)


def lion(grads, params, learning_rate=1e-4, b1=0.9, b2=0.99, weight_decay=1e-3):
    u = add_decayed_weights(scale_by_lion(grads, b1, b2), params, weight_decay)
    return scale_by_learning_rate(u, learning_rate)


def noisy_sgd(grads, noise, learning_rate=0.01, eta=0.01, gamma=0.55):
    return scale_by_learning_rate(add_noise(grads, noise, eta, gamma), learning_rate)

