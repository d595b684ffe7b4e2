"""nets (nets/mlp.py, nets/losses.py): forward pass and losses, float64, one example at a time
where the formula is per example, so no vectorized trick is shared with the library."""

import numpy as np


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

