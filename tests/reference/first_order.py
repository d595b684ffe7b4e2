"""First-order building blocks (optim/transforms/scaling.py, clipping.py, momentum.py,
adaptive.py, adam.py, sign_based.py, regularization.py) and the lectures' optimizers
(optim/aliases/gradient_descent.py, adaptive.py, adam.py, sign_based.py).

Each takes the whole sequence of gradients `grads`, float64 of shape (T, n) (row t is step
t's gradient with the pytree flattened), and returns the updates, shape (T, n). A rule that
reads the params takes their sequence `params` of the same shape. A hyperparameter that may be
a schedule is a number or a callable `t -> value` of the step count t = 0, 1, ... before the
update. An alias is the composition of its building blocks' functions, in chain order."""

import numpy as np

from ._helpers import _at, _rows


def scale(grads, step_size):
    return step_size * np.asarray(grads, np.float64)


def scale_by_learning_rate(grads, learning_rate, flip_sign=True):
    grads, out = _rows(grads)
    for t, g in enumerate(grads):
        rate = _at(learning_rate, t)
        out[t] = (-rate if flip_sign else rate) * g
    return out


def scale_by_schedule(grads, step_size_fn):
    grads, out = _rows(grads)
    for t, g in enumerate(grads):
        out[t] = _at(step_size_fn, t) * g
    return out


def clip(grads, max_delta):
    return np.clip(np.asarray(grads, np.float64), -max_delta, max_delta)


def clip_by_global_norm(grads, max_norm):
    grads, out = _rows(grads)
    for t, g in enumerate(grads):
        norm = np.sqrt(np.sum(g * g))
        out[t] = g * max_norm / max(norm, max_norm)
    return out


def trace(grads, decay, nesterov=False):
    """v_t = g_t + decay v_{t-1}; u_t = v_t, or g_t + decay v_t with nesterov."""
    grads, out = _rows(grads)
    v = np.zeros(grads.shape[1:])
    for t, g in enumerate(grads):
        d = _at(decay, t)
        v = g + d * v
        out[t] = g + d * v if nesterov else v
    return out


def ema(grads, decay, debias=True):
    """m_t = decay m_{t-1} + (1 - decay) g_t; u_t = m_t / (1 - decay^t) with debias (t from 1)."""
    grads, out = _rows(grads)
    m = np.zeros(grads.shape[1:])
    for t, g in enumerate(grads):
        d = _at(decay, t)
        m = d * m + (1 - d) * g
        out[t] = m / (1 - d ** (t + 1)) if debias else m
    return out


def scale_by_rss(grads, initial_accumulator_value=0.1, eps=1e-7):
    """AdaGrad: s_t = s_{t-1} + g_t^2 (s_0 = initial value); u_t = g_t / sqrt(s_t + eps), 0 if s_t = 0."""
    grads, out = _rows(grads)
    s = np.full(grads.shape[1:], initial_accumulator_value, np.float64)
    for t, g in enumerate(grads):
        s = s + g * g
        safe = np.where(s > 0, s, 1.0)
        out[t] = np.where(s > 0, g / np.sqrt(safe + eps), 0.0)
    return out


def scale_by_rms(
    grads,
    decay=0.9,
    eps=1e-8,
    initial_scale=0.0,
    eps_in_sqrt=True,
    centered=False,
    bias_correction=False,
):
    """RMSProp: nu_t = decay nu_{t-1} + (1 - decay) g^2, mu_t likewise with g (centered);
    each divided by 1 - decay^t with bias_correction; v = max(nu - mu^2, 0) (centered) or nu;
    u = g / sqrt(v + eps), or g / (sqrt(v) + eps)."""
    grads, out = _rows(grads)
    nu = np.full(grads.shape[1:], initial_scale, np.float64)
    mu = np.zeros(grads.shape[1:])
    for t, g in enumerate(grads):
        d = _at(decay, t)
        nu = d * nu + (1 - d) * g * g
        mu = d * mu + (1 - d) * g
        correction = 1 - d ** (t + 1) if bias_correction else 1.0
        v = nu / correction - ((mu / correction) ** 2 if centered else 0.0)
        v = np.maximum(v, 0.0)  # a variance (nu - mu^2 can round below 0)
        out[t] = g / np.sqrt(v + eps) if eps_in_sqrt else g / (np.sqrt(v) + eps)
    return out


def scale_by_adadelta(grads, rho=0.9, eps=1e-6):
    """Zeiler's Algorithm 1: E[g^2]_t, u_t = sqrt(E[dx^2]_{t-1} + eps) / sqrt(E[g^2]_t + eps) g_t,
    then E[dx^2]_t from u_t."""
    grads, out = _rows(grads)
    e_g = np.zeros(grads.shape[1:])
    e_x = np.zeros(grads.shape[1:])
    for t, g in enumerate(grads):
        r = _at(rho, t)
        e_g = r * e_g + (1 - r) * g * g
        u = np.sqrt(e_x + eps) / np.sqrt(e_g + eps) * g
        e_x = r * e_x + (1 - r) * u * u
        out[t] = u
    return out


def scale_by_adam(grads, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0, nesterov=False):
    """Adam: m^ = m_t / (1 - b1^t), v^ = v_t / (1 - b2^t), u = m^ / (sqrt(v^ + eps_root) + eps);
    with nesterov m^ = b1 m_t / (1 - b1^(t+1)) + (1 - b1) g_t / (1 - b1^t)."""
    grads, out = _rows(grads)
    m = np.zeros(grads.shape[1:])
    v = np.zeros(grads.shape[1:])
    for t, g in enumerate(grads):
        beta1, beta2, k = _at(b1, t), _at(b2, t), t + 1
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        if nesterov:
            m_hat = beta1 * m / (1 - beta1 ** (k + 1)) + (1 - beta1) * g / (1 - beta1**k)
        else:
            m_hat = m / (1 - beta1**k)
        v_hat = v / (1 - beta2**k)
        out[t] = m_hat / (np.sqrt(v_hat + eps_root) + eps)
    return out


def scale_by_rprop(
    grads, learning_rate=0.01, eta_minus=0.5, eta_plus=1.2, min_step_size=1e-6, max_step_size=50.0
):
    """iRprop-: p = g_t g_{t-1}; the step grows (p > 0), shrinks (p < 0) or stays; u_t is 0 where
    p < 0 and step_t sign(g_t) elsewhere; g_t is remembered as 0 where p < 0."""
    grads, out = _rows(grads)
    step = np.full(grads.shape[1:], learning_rate, np.float64)
    prev = np.zeros(grads.shape[1:])
    for t, g in enumerate(grads):
        p = g * prev
        step = np.where(
            p > 0,
            np.minimum(step * eta_plus, max_step_size),
            np.where(p < 0, np.maximum(step * eta_minus, min_step_size), step),
        )
        out[t] = np.where(p < 0, 0.0, step * np.sign(g))
        prev = np.where(p < 0, 0.0, g)
    return out


def scale_by_adaptive_gains(grads, increase=0.05, decrease=0.95, min_gain=0.01, max_gain=100.0):
    """Per-weight gains: +increase where g_t g_{t-1} > 0, x decrease where < 0, unchanged where 0;
    clipped to [min_gain, max_gain] (gain_0 = 1); u_t = gain_t g_t."""
    grads, out = _rows(grads)
    gain = np.ones(grads.shape[1:])
    prev = np.zeros(grads.shape[1:])
    for t, g in enumerate(grads):
        p = g * prev
        gain = np.where(p > 0, gain + increase, np.where(p < 0, gain * decrease, gain))
        gain = np.clip(gain, min_gain, max_gain)
        out[t] = gain * g
        prev = g
    return out


def add_decayed_weights(grads, params, weight_decay=0.0, mask=None):
    """u = g + weight_decay p where mask (a boolean row of length n, or None for all)."""
    grads, params = np.asarray(grads, np.float64), np.asarray(params, np.float64)
    grads, out = _rows(grads)
    chosen = np.ones(grads.shape[1:], bool) if mask is None else np.asarray(mask, bool)
    for t, g in enumerate(grads):
        out[t] = np.where(chosen, g + _at(weight_decay, t) * params[t], g)
    return out


def sign(grads):
    return np.sign(np.asarray(grads, np.float64))


def sgd(grads, learning_rate=0.01, momentum=None, nesterov=False):
    u = grads if momentum is None else trace(grads, momentum, nesterov)
    return scale_by_learning_rate(u, learning_rate)


def adagrad(grads, learning_rate=0.01, initial_accumulator_value=0.1, eps=1e-7):
    return scale_by_learning_rate(scale_by_rss(grads, initial_accumulator_value, eps), learning_rate)


def rmsprop(
    grads,
    learning_rate=0.001,
    decay=0.9,
    eps=1e-8,
    initial_scale=0.0,
    eps_in_sqrt=True,
    centered=False,
    momentum=None,
    nesterov=False,
    bias_correction=False,
):
    u = scale_by_rms(grads, decay, eps, initial_scale, eps_in_sqrt, centered, bias_correction)
    u = scale_by_learning_rate(u, learning_rate)
    return u if momentum is None else trace(u, momentum, nesterov)


def adadelta(grads, params, learning_rate=1.0, rho=0.9, eps=1e-6, weight_decay=0.0):
    u = add_decayed_weights(grads, params, weight_decay)
    return scale_by_learning_rate(scale_by_adadelta(u, rho, eps), learning_rate)


def adam(grads, learning_rate=0.001, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0, nesterov=False):
    return scale_by_learning_rate(scale_by_adam(grads, b1, b2, eps, eps_root, nesterov), learning_rate)


def adamw(
    grads,
    params,
    learning_rate=0.001,
    b1=0.9,
    b2=0.999,
    eps=1e-8,
    eps_root=0.0,
    weight_decay=1e-4,
    mask=None,
    nesterov=False,
):
    u = scale_by_adam(grads, b1, b2, eps, eps_root, nesterov)
    return scale_by_learning_rate(add_decayed_weights(u, params, weight_decay, mask), learning_rate)


def rprop(
    grads, learning_rate=0.01, eta_minus=0.5, eta_plus=1.2, min_step_size=1e-6, max_step_size=50.0
):
    u = scale_by_rprop(grads, learning_rate, eta_minus, eta_plus, min_step_size, max_step_size)
    return -u


def adaptive_gains(
    grads,
    learning_rate=0.01,
    increase=0.05,
    decrease=0.95,
    min_gain=0.01,
    max_gain=100.0,
    momentum=None,
):
    u = scale_by_adaptive_gains(grads, increase, decrease, min_gain, max_gain)
    u = u if momentum is None else trace(u, momentum)
    return scale_by_learning_rate(u, learning_rate)

