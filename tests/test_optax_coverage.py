"""`import optim as optax` works: every public name of the installed optax's main namespaces
exists here, except the EXCLUDED ones, each with its reason."""

import importlib
import types

import optax

import optim
import optim.contrib
import optim.losses
import optim.projections
import optim.tree
import optim.tree_utils
import schedules

# optax's namespace -> where its names live here (a name may be in any of them)
NAMESPACES = {
    "optax": [optim],
    "optax.schedules": [schedules, optim],
    "optax.tree": [optim.tree],
    "optax.tree_utils": [optim.tree_utils],
    "optax.losses": [optim.losses],
    "optax.contrib": [optim.contrib],
    "optax.projections": [optim.projections],
}

# Qualified optax name -> why this library does not offer it.
EXCLUDED = {
    # The schedules are a package of their own (imports point schedules <- optim); every
    # schedule name of optax.schedules is importable from `schedules` and from `optim`
    # (checked below), so there is no `optim.schedules` namespace.
    "optax.schedules": "a separate package, `schedules`",
    # An unstable namespace (gradient aggregation across devices), outside optax's API promise.
    "optax.experimental": "optax's experimental API",
    # The Hungarian algorithm for linear assignment problems: a combinatorial solver, not a
    # gradient transformation, loss or schedule.
    "optax.assignment": "a combinatorial solver, outside the library's field",
    # Perturbed maximizers (Berthet et al. 2020) to differentiate through argmax: a
    # differentiation tool, not an optimizer.
    "optax.perturbations": "a differentiation tool, outside the library's field",
}


def public_names(module):
    """The public names of an optax module: its attributes without a leading underscore,
    leaving out the standard-library modules it happens to import (functools, typing)."""
    names = []
    for name in dir(module):
        value = getattr(module, name)
        if name.startswith("_") or (isinstance(value, types.ModuleType)
                                    and not value.__name__.startswith("optax")):
            continue
        names.append(name)
    return names


def test_every_optax_name_exists_here():
    missing = []
    for namespace, homes in NAMESPACES.items():
        for name in public_names(importlib.import_module(namespace)):
            qualified = f"{namespace}.{name}"
            if qualified not in EXCLUDED and not any(hasattr(home, name) for home in homes):
                missing.append(qualified)
    assert not missing, f"{len(missing)} optax names missing here: {sorted(missing)}"


def test_every_excluded_name_still_exists_in_optax():
    stale = []
    for qualified in EXCLUDED:
        namespace, _, name = qualified.rpartition(".")
        if name not in public_names(importlib.import_module(namespace)):
            stale.append(qualified)
    assert not stale, f"EXCLUDED names that optax no longer has: {sorted(stale)}"


def test_the_namespaces_are_reachable_as_attributes():
    assert optim.losses is importlib.import_module("optim.losses")
    assert optim.tree is importlib.import_module("optim.tree")
    assert optim.tree_utils is importlib.import_module("optim.tree_utils")
    assert optax.__version__ == "0.2.8"
