"""optax.contrib's optimizers under optax's names: newer methods from recent papers, each
tested against its paper's update rule and against optax 0.2.8.

    tx = optim.contrib.prodigy()          # as optax.contrib.prodigy()
"""
# ruff: noqa: F401  (every import here is a re-export; `__all__` is computed below)

import types as _types

# the Adam family and the parameter-free methods

# momo, sophia, galore, muon's dimension numbers, complex and private aggregation

# The public surface: every name imported above.
__all__ = sorted(
    name
    for name, value in globals().items()
    if not name.startswith("_") and not isinstance(value, _types.ModuleType)
)
