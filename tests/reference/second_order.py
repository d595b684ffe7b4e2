"""Line searches and second-order methods (optim/second_order/).

Whole runs on a flat float64 vector, given NumPy callables f(x) and grad(x); written from the
docstrings (Nocedal & Wright, 2nd ed.: Algorithm 3.1, eq. 6.17, Algorithm 7.4, sec. 3.4)."""

import numpy as np


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
        if not pairs:  # the first step (or after a restart): capped when scaling, else g
            gamma = _first_step_scale(g) if scale_init_precond else 1.0
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

