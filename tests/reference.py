"""Plain-NumPy float64 transcriptions of every update rule and schedule, written from the docstrings' math; the tests compare the library against these."""

import numpy as np

# ---------------------------------------------------------------------------------------------
# schedules (schedules/decay.py, warmup.py, cyclic.py, combine.py, scaling.py)
# Each takes an integer array of steps and returns float64 values, one step at a time in
# Python ints and floats, so floor divisions are exact at any step.
# ---------------------------------------------------------------------------------------------


def _each_step(function, steps):
    return np.array([function(int(t)) for t in np.asarray(steps).ravel()], np.float64).reshape(
        np.shape(steps)
    )


def schedule_constant(steps, value):
    return _each_step(lambda t: value, steps)


def schedule_step_decay(steps, init_value, step_size, factor):
    return _each_step(lambda t: init_value * factor ** (t // step_size), steps)


def schedule_piecewise_constant(steps, init_value, boundaries_and_scales):
    def one(t):
        value = init_value
        for boundary, scale in boundaries_and_scales.items():
            if t >= boundary:
                value *= scale
        return value

    return _each_step(one, steps)


def schedule_exponential_decay(
    steps, init_value, decay_rate, transition_steps=1, staircase=False, transition_begin=0,
    end_value=None,
):
    def one(t):
        elapsed = max(t - transition_begin, 0)
        p = elapsed // transition_steps if staircase else elapsed / transition_steps
        value = init_value * np.power(np.float64(decay_rate), p)
        if end_value is not None:
            value = max(value, end_value) if decay_rate < 1 else min(value, end_value)
        return value

    with np.errstate(over="ignore", under="ignore"):
        return _each_step(one, steps)


def schedule_inverse_time_decay(steps, init_value, decay_rate, transition_steps=1, staircase=False):
    def one(t):
        p = t // transition_steps if staircase else t / transition_steps
        return init_value / (1 + decay_rate * p)

    return _each_step(one, steps)


def schedule_polynomial_decay(steps, init_value, end_value, power, transition_steps, transition_begin=0):
    def one(t):
        s = min(max(t - transition_begin, 0), transition_steps) / transition_steps
        return (init_value - end_value) * (1 - s) ** power + end_value

    return _each_step(one, steps)


def schedule_linear(steps, init_value, end_value, transition_steps, transition_begin=0):
    def one(t):
        s = min(max(t - transition_begin, 0), transition_steps) / transition_steps
        return init_value + (end_value - init_value) * s

    return _each_step(one, steps)


def schedule_cosine_decay(steps, init_value, decay_steps, alpha=0.0, exponent=1.0):
    def one(t):
        c = (1 + np.cos(np.pi * min(t, decay_steps) / decay_steps)) / 2
        return init_value * ((1 - alpha) * c**exponent + alpha)

    return _each_step(one, steps)


def schedule_linear_warmup(steps, init_value, peak_value, warmup_steps):
    def one(t):
        if t >= warmup_steps:
            return peak_value
        return init_value + (peak_value - init_value) * t / warmup_steps

    return _each_step(one, steps)


def schedule_warmup_cosine_decay(
    steps, init_value, peak_value, warmup_steps, decay_steps, end_value=0.0, exponent=1.0
):
    def one(t):
        if t < warmup_steps:
            return init_value + (peak_value - init_value) * t / warmup_steps
        length = decay_steps - warmup_steps
        c = (1 + np.cos(np.pi * min(t - warmup_steps, length) / length)) / 2
        return end_value + (peak_value - end_value) * c**exponent

    return _each_step(one, steps)


def schedule_sgdr(steps, init_value, period, period_mult=1.0, min_value=0.0):
    """Walks the cycles one by one (T_i = period * period_mult**i) instead of using logs."""

    def one(t):
        if period_mult == 1.0:
            start, length = (t // period) * period, period
        else:
            start, length = 0.0, float(period)
            while t >= start + length:
                start += length
                length *= period_mult
        return min_value + (init_value - min_value) * (1 + np.cos(np.pi * (t - start) / length)) / 2

    return _each_step(one, steps)


def schedule_cyclic_triangular(steps, base_value, max_value, step_size, mode="triangular", gamma=1.0):
    """Smith (2017), Section 3.1, with cycle computed in exact integers."""

    def one(t):
        cycle = 1 + t // (2 * step_size)
        x = abs((t - 2 * step_size * cycle) / step_size + 1)
        if mode == "triangular":
            scale = 1.0
        elif mode == "triangular2":
            scale = 0.5 ** (cycle - 1)
        else:
            scale = gamma**t
        return base_value + (max_value - base_value) * max(0.0, 1 - x) * scale

    return _each_step(one, steps)


def schedule_one_cycle(steps, transition_steps, peak_value, pct_start=0.3, div_factor=25.0, final_div_factor=1e4):
    init_value = peak_value / div_factor
    final_value = init_value / final_div_factor
    rise = int(pct_start * transition_steps)

    def one(t):
        if t < rise:
            return init_value + (peak_value - init_value) * (1 - np.cos(np.pi * t / rise)) / 2
        if t >= transition_steps:
            return final_value
        fall = transition_steps - rise
        return final_value + (peak_value - final_value) * (1 + np.cos(np.pi * (t - rise) / fall)) / 2

    return _each_step(one, steps)


def schedule_join(steps, references, boundaries):
    """`references` are functions of an integer step array, like the ones above."""

    def one(t):
        k = sum(t >= boundary for boundary in boundaries)
        offset = boundaries[k - 1] if k else 0
        return references[k](np.array([t - offset]))[0]

    return _each_step(one, steps)


def schedule_linear_scaling(steps, base_value, batch_size, base_batch_size=256):
    return _each_step(lambda t: base_value * batch_size / base_batch_size, steps)


# ---------------------------------------------------------------------------------------------
# first-order building blocks (optim/scale.py, clipping.py, momentum.py, adaptive.py, sign.py,
# regularize.py) and the lectures' optimizers (optim/aliases.py)
# Each takes the whole sequence of gradients `grads`, float64 of shape (T, n) (row t is step
# t's gradient with the pytree flattened), and returns the updates, shape (T, n). A rule that
# reads the params takes their sequence `params` of the same shape. A hyperparameter that may be
# a schedule is a number or a callable `t -> value` of the step count t = 0, 1, ... before the
# update. An alias is the composition of its building blocks' functions, in chain order.
# ---------------------------------------------------------------------------------------------


def _at(hyperparameter, t):
    return float(hyperparameter(t)) if callable(hyperparameter) else float(hyperparameter)


def _rows(grads):
    grads = np.asarray(grads, np.float64)
    return grads, np.zeros_like(grads)


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


# ---------------------------------------------------------------------------------------------
# modern optimizers (optim/modern.py, lion.py, noise.py, layerwise.py, factored.py,
# orthogonal.py, modern_aliases.py) and wrappers (optim/wrappers.py, lookahead.py, sam.py,
# schedule_free.py, plateau.py)
# Elementwise rules take `grads` (T, n) as above. Layer-wise rules (LAMB, LARS, Adafactor,
# Muon) take lists with one array per leaf, of shape (T, *leaf_shape), and return such a list.
# Rules whose later gradients depend on earlier steps (SAM, lookahead, schedule-free) are
# simulated in closed loop: they take a NumPy `grad_fn(x)` of a flat float64 vector `x0`.
# ---------------------------------------------------------------------------------------------


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


def _norm(x):
    return np.sqrt(np.sum(np.asarray(x, np.float64) ** 2))


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


def ema_params(params_after, initial_params, decay=0.999, debias=True):
    """The average of the params p_1..p_t after each step: with debias the EMA over p_1..p_t
    divided by its weight 1 - decay^t (decay None: the uniform mean); without, the EMA started
    from the initial params p_0."""
    params_after = np.asarray(params_after, np.float64)
    out = np.zeros(params_after.shape)
    if decay is None:
        for t in range(len(params_after)):
            out[t] = params_after[: t + 1].mean(axis=0)
        return out
    m = np.zeros(params_after.shape[1:]) if debias else np.asarray(initial_params, np.float64)
    for t, p in enumerate(params_after):
        d = _at(decay, t)
        m = d * m + (1 - d) * p
        out[t] = m / (1 - d ** (t + 1)) if debias else m
    return out


def lookahead_sgd(grad_fn, x0, steps, learning_rate, sync_period=5, slow_step_size=0.5):
    """Lookahead (Zhang et al. 2019, Alg. 1) around plain SGD: k fast steps theta <- theta - lr g,
    then phi <- phi + alpha (theta - phi), theta <- phi. Returns the fast and the slow weights
    after each step, (steps, n) each."""
    theta = np.asarray(x0, np.float64).copy()
    phi = theta.copy()
    fast, slow = [], []
    for t in range(steps):
        theta = theta - learning_rate * grad_fn(theta)
        if (t + 1) % sync_period == 0:
            phi = phi + slow_step_size * (theta - phi)
            theta = phi.copy()
        fast.append(theta.copy())
        slow.append(phi.copy())
    return np.array(fast), np.array(slow)


def sam_momentum(grad_fn, x0, steps, rho=0.05, learning_rate=0.1, momentum=0.9, eps=1e-12):
    """SAM (Foret et al. 2021, Alg. 1) with heavy-ball SGD as the base optimizer:
    e = rho g(w) / (||g(w)|| + eps); v = g(w + e) + momentum v; w <- w - lr v. Returns w after
    each step."""
    w = np.asarray(x0, np.float64).copy()
    v = np.zeros_like(w)
    out = []
    for _ in range(steps):
        g = grad_fn(w)
        e = rho * g / (_norm(g) + eps)
        v = grad_fn(w + e) + momentum * v
        w = w - learning_rate * v
        out.append(w.copy())
    return np.array(out)


def _schedule_free(grad_fn, x0, steps, base_step, gamma, b1, weight_lr_power):
    """The schedule-free iteration with the three sequences kept explicitly:
    y = (1 - b1) z + b1 x; z <- z + base_step(t, g(y), y); x <- (1 - c) x + c z with
    c = w_t / sum w, w_t = (max_{i<=t} gamma_i)^power. Returns (y, x) after each step."""
    z = np.asarray(x0, np.float64).copy()
    x = z.copy()
    max_gamma, weight_sum = 0.0, 0.0
    ys, xs = [], []
    for t in range(steps):
        y = (1 - b1) * z + b1 * x
        z = z + base_step(t, grad_fn(y), y)
        max_gamma = max(max_gamma, gamma(t))
        weight = max_gamma**weight_lr_power
        weight_sum += weight
        c = weight / weight_sum if weight_sum > 0 else 0.0
        x = (1 - c) * x + c * z
        ys.append((1 - b1) * z + b1 * x)
        xs.append(x.copy())
    return np.array(ys), np.array(xs)


def schedule_free_sgd(grad_fn, x0, steps, learning_rate=1.0, warmup_steps=None, b1=0.9, weight_decay=0.0, weight_lr_power=2.0):
    """Schedule-free SGD: z <- z - gamma_t (g(y) + wd y), gamma_t = lr min(1, t / warmup)."""

    def gamma(t):
        return learning_rate * (1.0 if warmup_steps is None else min(1.0, (t + 1) / warmup_steps))

    return _schedule_free(
        grad_fn, x0, steps, lambda t, g, y: -gamma(t) * (g + weight_decay * y), gamma, b1, weight_lr_power
    )


def schedule_free_adamw(grad_fn, x0, steps, learning_rate=0.0025, warmup_steps=None, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.0, weight_lr_power=2.0):
    """Schedule-free AdamW (Defazio et al. 2024, Algorithm 1): v = b2 v + (1 - b2) g^2;
    gamma_t = lr sqrt(1 - b2^t) min(1, t / warmup); z <- z - gamma_t (g / (sqrt(v) + eps) + wd y)."""
    v = np.zeros(np.shape(x0))

    def gamma(t):
        ramp = 1.0 if warmup_steps is None else min(1.0, (t + 1) / warmup_steps)
        return learning_rate * np.sqrt(1 - b2 ** (t + 1)) * ramp

    def base_step(t, g, y):
        nonlocal v
        v = b2 * v + (1 - b2) * g * g
        return -gamma(t) * (g / (np.sqrt(v) + eps) + weight_decay * y)

    return _schedule_free(grad_fn, x0, steps, base_step, gamma, b1, weight_lr_power)


def reduce_on_plateau(values, factor=0.1, patience=10, rtol=1e-4, atol=0.0, cooldown=0, accumulation_size=1, min_scale=0.0):
    """The scale after each value: values are averaged in groups of `accumulation_size`; an
    average v improves if v < (1 - rtol) best - atol; otherwise, outside a cooldown, it counts as
    a plateau, and `patience` of them in a row cut the scale by `factor` (not below min_scale),
    start a cooldown of `cooldown` averages and restart the count."""
    scale, best, plateaus, cooling = 1.0, np.inf, 0, 0
    group, out = [], []
    for value in values:
        group.append(float(value))
        if len(group) == accumulation_size:
            average = float(np.mean(group))
            group = []
            if average < (1 - rtol) * best - atol:
                best, plateaus = average, 0
            else:
                plateaus += 1
            if cooling > 0:
                cooling -= 1
                plateaus = 0
            elif plateaus >= patience:
                scale = max(scale * factor, min_scale)
                plateaus, cooling = 0, cooldown
        out.append(scale)
    return np.array(out)


# ---------------------------------------------------------------------------------------------
# line searches and second-order methods (optim/linesearch.py, optim/second_order.py)
# Whole runs on a flat float64 vector, given NumPy callables f(x) and grad(x); written from the
# docstrings (Nocedal & Wright, 2nd ed.: Algorithm 3.1, eq. 6.17, Algorithm 7.4, sec. 3.4).
# ---------------------------------------------------------------------------------------------


def backtracking_gd_run(f, grad, x0, steps, learning_rate, max_backtracking_steps=30,
                        slope_rtol=1e-4, decrease_factor=0.8, increase_factor=1.5,
                        max_learning_rate=1.0):
    """Iterates of gradient descent d = -learning_rate g, scaled by Armijo backtracking."""
    x = np.asarray(x0, np.float64)
    alpha_prev = max_learning_rate
    out = [x.copy()]
    for _ in range(steps):
        g = grad(x)
        d = -learning_rate * g
        slope = g @ d
        alpha = min(increase_factor * alpha_prev, max_learning_rate)
        accepted = 0.0
        for i in range(max_backtracking_steps):
            if i > 0:
                alpha *= decrease_factor
            value = f(x + alpha * d)
            if np.isfinite(value) and value <= f(x) + slope_rtol * alpha * slope:
                accepted = alpha
                break
        alpha_prev = alpha
        x = x + accepted * d
        out.append(x.copy())
    return np.array(out)


def _first_step_scale(g):
    norm = np.linalg.norm(g)
    return 1.0 / norm if norm > 1.0 else 1.0


def bfgs_run(grad, x0, steps, learning_rate, scale_init_precond=False):
    """x_{k+1} = x_k - learning_rate H_k g_k with the BFGS inverse update (N&W eq. 6.17)."""
    x = np.asarray(x0, np.float64)
    n = x.size
    H = np.eye(n)
    updated = False
    x_prev = g_prev = None
    out = [x.copy()]
    for k in range(steps):
        g = grad(x)
        if k == 0:
            d = _first_step_scale(g) * g
        else:
            s, y = x - x_prev, g - g_prev
            sy = s @ y
            if sy > np.finfo(np.float64).eps * np.linalg.norm(s) * np.linalg.norm(y):
                if scale_init_precond and not updated:
                    H = (sy / (y @ y)) * np.eye(n)
                rho = 1.0 / sy
                V = np.eye(n) - rho * np.outer(y, s)
                H = V.T @ H @ V + rho * np.outer(s, s)
                updated = True
            d = H @ g
        x_prev, g_prev = x, g
        x = x - learning_rate * d
        out.append(x.copy())
    return np.array(out)


def lbfgs_direction(g, pairs, gamma):
    """The two-loop recursion (N&W Algorithm 7.4): H g from pairs [(s, y), ...] oldest first."""
    q = g.copy()
    alphas = []
    for s, y in reversed(pairs):
        alpha = (s @ q) / (y @ s)
        alphas.append(alpha)
        q = q - alpha * y
    r = gamma * q
    for (s, y), alpha in zip(pairs, reversed(alphas), strict=True):
        beta = (y @ r) / (y @ s)
        r = r + s * (alpha - beta)
    return r


def lbfgs_run(grad, x0, steps, learning_rate, memory_size=10, scale_init_precond=True):
    """x_{k+1} = x_k - learning_rate H_k g_k with H_k from the last memory_size pairs."""
    x = np.asarray(x0, np.float64)
    pairs = []
    x_prev = g_prev = None
    out = [x.copy()]
    for k in range(steps):
        g = grad(x)
        if k > 0:
            s, y = x - x_prev, g - g_prev
            if s @ y > np.finfo(np.float64).eps * np.linalg.norm(s) * np.linalg.norm(y):
                pairs = (pairs + [(s, y)])[-memory_size:]
        if not pairs:
            gamma = _first_step_scale(g)
        elif scale_init_precond:
            s, y = pairs[-1]
            gamma = (s @ y) / (y @ y)
        else:
            gamma = 1.0
        d = lbfgs_direction(g, pairs, gamma)
        x_prev, g_prev = x, g
        x = x - learning_rate * d
        out.append(x.copy())
    return np.array(out)


def newton_direction(hessian, g, damping=0.0):
    """(|H| + damping I)^-1 g with eigenvalues floored at sqrt(eps) max|lambda| (N&W sec. 3.4)."""
    H = 0.5 * (hessian + hessian.T)
    lam, Q = np.linalg.eigh(H)
    largest = np.max(np.abs(lam))
    floor = np.sqrt(np.finfo(np.float64).eps) * largest if largest > 0 else 1.0
    return Q @ ((Q.T @ g) / (np.maximum(np.abs(lam), floor) + damping))


# ---------------------------------------------------------------------------------------------
# nets (nets/mlp.py, nets/losses.py): forward pass and losses, float64, one example at a time
# where the formula is per example, so no vectorized trick is shared with the library.
# ---------------------------------------------------------------------------------------------


def nets_activation(name, z):
    from math import erf

    z = np.asarray(z, np.float64)
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "gelu":  # z * Phi(z), the exact form
        return z * 0.5 * (1.0 + np.vectorize(erf)(z / np.sqrt(2.0)))
    raise ValueError(name)


def nets_mlp_forward(layers, x, activation):
    """layers: list of (w, b) NumPy arrays; hidden layers activated, last layer linear."""
    y = np.asarray(x, np.float64)
    for i, (w, b) in enumerate(layers):
        y = y @ np.asarray(w, np.float64) + np.asarray(b, np.float64)
        if i < len(layers) - 1:
            y = nets_activation(activation, y)
    return y


def nets_l2_loss(f, y):
    f, y = np.asarray(f, np.float64), np.asarray(y, np.float64)
    return np.mean([0.5 * np.sum((yi - fi) ** 2) for fi, yi in zip(f, y, strict=False)])


def nets_binary_cross_entropy(z, y):
    """-(y log p + (1 - y) log(1 - p)), p = sigmoid(z), per entry; for moderate z only."""
    z, y = np.asarray(z, np.float64), np.asarray(y, np.float64)
    p = 1.0 / (1.0 + np.exp(-z))
    per = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    return np.mean(per.reshape(len(per), -1).sum(axis=1))


def nets_softmax_cross_entropy(z, labels):
    """-log(exp(z_y) / sum_k exp(z_k)) per example (integer labels); for moderate z only."""
    z = np.asarray(z, np.float64)
    return np.mean([-np.log(np.exp(zi[yi]) / np.sum(np.exp(zi))) for zi, yi in zip(z, labels, strict=False)])


def nets_multiclass_hinge(s, labels, margin=1.0):
    s = np.asarray(s, np.float64)
    total = 0.0
    for si, yi in zip(s, labels, strict=False):
        total += sum(max(0.0, si[j] - si[yi] + margin) for j in range(len(si)) if j != yi)
    return total / len(s)


def nets_accuracy(z, labels):
    z = np.asarray(z, np.float64)
    return np.mean([int(np.argmax(zi) == yi) for zi, yi in zip(z, labels, strict=False)])
