"""The pieces every rule shares: a hyperparameter at step t, the rows of a gradient sequence
and a vector's norm."""

import numpy as np


def _at(hyperparameter, t):
    return float(hyperparameter(t)) if callable(hyperparameter) else float(hyperparameter)


def _rows(grads):
    grads = np.asarray(grads, np.float64)
    return grads, np.zeros_like(grads)


def _norm(x):
    return np.sqrt(np.sum(np.asarray(x, np.float64) ** 2))

