"""Learning-rate (and momentum) schedules: pure, jit- and vmap-safe `step -> value` functions."""

__all__: list[str] = []
