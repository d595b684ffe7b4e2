"""The optimizers a comparison can enter: the lectures' seven, and every first-order alias.

    nets.contenders(["sgd", "adam", "lion"])     # by name
    nets.available_contenders()                   # all of them, name -> Contender
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import optim
import optim.aliases


@dataclasses.dataclass(frozen=True)
class Contender:
    """An optimizer entered into a comparison: `factory(learning_rate=..., **fixed)` and the
    customary learning rate its grid is centred on."""

    name: str
    factory: Callable[..., Any]
    learning_rate: float
    fixed: Mapping[str, Any] = dataclasses.field(default_factory=dict)


LECTURES: dict[str, Contender] = {
    "sgd": Contender("sgd", optim.sgd, 0.1),
    "momentum": Contender("momentum", optim.sgd, 0.01, {"momentum": 0.9}),
    "nesterov": Contender("nesterov", optim.sgd, 0.01, {"momentum": 0.9, "nesterov": True}),
    "adagrad": Contender("adagrad", optim.adagrad, 0.05),
    "rmsprop": Contender("rmsprop", optim.rmsprop, 1e-3),
    "adadelta": Contender("adadelta", optim.adadelta, 1.0),
    "adam": Contender("adam", optim.adam, 1e-3),
}
"""The lectures' seven, at the rates that suit them on the standardized digits (batch 32):
plain SGD takes a larger step than momentum's `0.01 / (1 - 0.9) = 0.1` effective one."""

# Optimizers whose default learning rate is not a number: the rate their grid is centred on.
# Rates for aliases whose learning rate has no number for a default: adafactor's is the cap
# of its relative step, min(1e-2, 1 / sqrt(t)); yogi's the paper's (Zaheer et al. 2018);
# signSGD and Signum take Adam-sized steps (Bernstein et al. 2018); Adan, the optimistic Adams
# and NovoGrad take Adam's (Xie et al. 2022; Ginsburg et al. 2019 use 1e-2 with large batches);
# Fromage's paper default is 1e-2 (Bernstein et al. 2020); SM3's and optimistic gradient
# descent's are SGD-sized.
_CUSTOMARY = {"adafactor": 1e-2, "yogi": 1e-2, "sign_sgd": 1e-3, "signum": 1e-3,
              "adan": 1e-3, "novograd": 1e-3, "optimistic_adam": 1e-3,
              "optimistic_adam_v2": 1e-3, "fromage": 1e-2, "sm3": 1e-1,
              "optimistic_gradient_descent": 1e-1}


def available_contenders() -> dict[str, Contender]:
    """Every optimizer a comparison can enter by name: the lectures' seven, then every
    first-order alias of `optim` with its default hyperparameters and learning rate."""
    found = dict(LECTURES)
    for info in pkgutil.iter_modules(optim.aliases.__path__):
        if info.name == "second_order":  # they need value_fn and line searches, not a grid
            continue
        module = importlib.import_module(f"optim.aliases.{info.name}")
        for name, factory in inspect.getmembers(module, inspect.isfunction):
            if factory.__module__ != module.__name__ or name.startswith("_") or name in found:
                continue
            parameter = inspect.signature(factory).parameters.get("learning_rate")
            if parameter is None:  # a step size of its own (polyak_sgd, ...): nothing to tune
                continue
            default = parameter.default
            rate = _CUSTOMARY.get(name, default)
            if not isinstance(rate, int | float):  # no rate to centre a grid on
                continue
            found[name] = Contender(name, factory, rate)
    return found


def contenders(names: Sequence[str]) -> list[Contender]:
    """The `Contender`s called `names` (see `available_contenders`); a ValueError names the
    unknown ones."""
    known = available_contenders()
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        raise ValueError(f"unknown optimizers {unknown}; choose from {', '.join(known)}")
    if len(set(names)) != len(names):
        raise ValueError(f"optimizers must be distinct, got {list(names)}")
    return [known[name] for name in names]
