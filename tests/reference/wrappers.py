"""Wrappers (optim/wrappers/averaging.py, lookahead.py, sam.py, schedule_free.py,
plateau.py).

Rules whose later gradients depend on earlier steps (SAM, lookahead, schedule-free) are
simulated in closed loop: they take a NumPy `grad_fn(x)` of a flat float64 vector `x0`."""

import numpy as np

from ._helpers import _at, _norm


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

