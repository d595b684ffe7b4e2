"""What the explorer offers: the 2-D landscapes of `optim.landscapes` and the lectures'
optimizers, each with the hyperparameters the page lets one set.

Every first-order method takes a learning rate `a0` and the lecture's 1/t decay
`a_t = a0 / (1 + k t)` (`schedules.inverse_time_decay(a0, k)`, `lr_decay` = k; 0 keeps the
rate fixed); momentum and Nesterov add `momentum`, RMSProp its `decay`, AdaDelta its `rho`,
Adam `b1` and `b2`. Newton's method and L-BFGS take none: their line search picks the step.

A method's `build(**hyperparameters)` returns the optimizer. Called with Python floats it
checks them with the library's own validation (so a bad value gets the library's message);
called with traced arrays, as the explorer's compiled programs do, it builds the same chain
with the values as inputs of the program.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import optim
import schedules
from _descent import validation

__all__ = [
    "GRID",
    "LANDSCAPES",
    "METHODS",
    "Hyperparameter",
    "Method",
    "describe_landscape",
    "describe_method",
    "landscape_grid",
    "landscape_key",
]

GRID = 81
"""Grid points per side of the values the page draws its contours from."""


def landscape_key(landscape: optim.Landscape) -> str:
    """The landscape's name without its arguments: `ill_conditioned_quadratic(kappa=100, ...)`
    is `ill_conditioned_quadratic`."""
    return landscape.name.split("(")[0]


LANDSCAPES: dict[str, optim.Landscape] = {
    landscape_key(land): land for land in optim.landscapes.catalog() if land.dim == 2
}
"""Every 2-D landscape of `optim.landscapes.catalog()`, by key. Built once, so each keeps the
same `fn` object and `optim.minimize` sees the same static function on every request."""


@dataclasses.dataclass(frozen=True)
class Hyperparameter:
    """A number the page lets one set: its keyword, label and default."""

    name: str
    label: str
    default: float


@dataclasses.dataclass(frozen=True)
class Method:
    """An optimizer of the explorer: `build(**{h.name: value for h in hyperparameters})`."""

    name: str
    label: str
    build: Callable[..., optim.GradientTransformation]
    hyperparameters: tuple[Hyperparameter, ...]

    def defaults(self) -> dict[str, float]:
        return {h.name: h.default for h in self.hyperparameters}


def _rate(learning_rate, lr_decay):
    with validation.renamed(init_value="learning_rate", decay_rate="lr_decay"):
        return schedules.inverse_time_decay(learning_rate, lr_decay)


def _rate_first(learning_rate, lr_decay):
    # The optimizer's own check of the rate comes first, so that its message names
    # `learning_rate` and the range [0, inf), as everywhere else in the library.
    validation.non_negative("learning_rate", learning_rate)
    return _rate(learning_rate, lr_decay)


def _sgd(learning_rate, lr_decay):
    return optim.sgd(_rate_first(learning_rate, lr_decay))


def _momentum(learning_rate, lr_decay, momentum):
    return optim.sgd(_rate_first(learning_rate, lr_decay), momentum=momentum)


def _nesterov(learning_rate, lr_decay, momentum):
    return optim.sgd(_rate_first(learning_rate, lr_decay), momentum=momentum, nesterov=True)


def _adagrad(learning_rate, lr_decay):
    return optim.adagrad(_rate_first(learning_rate, lr_decay))


def _rmsprop(learning_rate, lr_decay, decay):
    return optim.rmsprop(_rate_first(learning_rate, lr_decay), decay=decay)


def _adadelta(learning_rate, lr_decay, rho):
    return optim.adadelta(_rate_first(learning_rate, lr_decay), rho=rho)


def _adam(learning_rate, lr_decay, b1, b2):
    return optim.adam(_rate_first(learning_rate, lr_decay), b1=b1, b2=b2)


def _rates(default: float) -> tuple[Hyperparameter, ...]:
    return (
        Hyperparameter("learning_rate", "learning rate", default),
        Hyperparameter("lr_decay", "1/t decay k", 0.0),
    )


_MOMENTUM = Hyperparameter("momentum", "momentum", 0.9)

METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method("sgd", "SGD", _sgd, _rates(0.04)),
        Method("momentum", "SGD + momentum", _momentum, _rates(0.01) + (_MOMENTUM,)),
        Method("nesterov", "Nesterov", _nesterov, _rates(0.01) + (_MOMENTUM,)),
        Method("adagrad", "AdaGrad", _adagrad, _rates(1.0)),
        Method("rmsprop", "RMSProp", _rmsprop,
               _rates(0.1) + (Hyperparameter("decay", "decay", 0.9),)),
        Method("adadelta", "AdaDelta", _adadelta,
               _rates(1.0) + (Hyperparameter("rho", "rho", 0.9),)),
        Method("adam", "Adam", _adam,
               _rates(0.3) + (Hyperparameter("b1", "b1", 0.9), Hyperparameter("b2", "b2", 0.999))),
        Method("newton", "Newton (line search)", lambda: optim.newton(), ()),
        Method("lbfgs", "L-BFGS (line search)", lambda: optim.lbfgs(), ()),
    )
}
"""The explorer's optimizers, by name, in the page's order."""


def describe_landscape(key: str) -> dict[str, Any]:
    """A landscape as the page lists it: name, formula, domain, start, minima, saddle points
    and minimum value (None where unknown)."""
    land = LANDSCAPES[key]
    return {
        "key": key,
        "name": land.name,
        "formula": land.formula,
        "domain": [list(d) for d in land.domain],
        "start": list(land.start),
        "minima": [list(p) for p in land.minima],
        "saddle_points": [list(p) for p in land.saddle_points],
        "minimum_value": land.minimum_value,
    }


@functools.cache
def landscape_grid(key: str) -> dict[str, Any]:
    """The landscape's values on a GRID x GRID grid over its domain, for the contours:
    `z[i][j]` is the value at `(x[j], y[i])`, to float32's precision."""
    X, Y, Z = LANDSCAPES[key].grid(GRID)
    z = [[float(f"{v:.7g}") for v in row] for row in Z.tolist()]
    return {"key": key, "x": X[0].tolist(), "y": Y[:, 0].tolist(), "z": z}


def describe_method(method: Method) -> dict[str, Any]:
    """An optimizer as the page needs it: its name, label and hyperparameters with defaults."""
    return {
        "name": method.name,
        "label": method.label,
        "hyperparameters": [dataclasses.asdict(h) for h in method.hyperparameters],
    }
