"""The pytree maths: the library's helpers that transforms use, and optax.tree's functions
under optax's short names.

    optim.tree.tree_global_norm(grads)            # also optim.tree_global_norm
    optim.tree.update_moment(grads, mu, 0.9, 1)   # 0.9 mu + 0.1 g, leaf by leaf
    optim.tree.norm(grads, ord=1)                 # optax.tree.norm
    optim.tree.get(state, "learning_rate")        # optax.tree.get

    maths       the library's `tree_*` helpers (each leaf keeps its dtype, sums in float32),
                update_moment, bias_correction
    arithmetic  optax's add, sub, mul, div, scale, add_scale, vdot, sum, max, min, size,
                norm, where, clip, conj, real, allclose, batch_shape, moment updates
    creation    optax's zeros_like, ones_like, full_like, cast, cast_like, dtype, random trees
    access      optax's get, set, get_all_with_path, map_params on nested states

`update_moment` and `bias_correction` are the library's (saturating at the dtype's largest
value, optax's formula otherwise); the optax.tree_utils spellings (`tree_get`, ...) are in
`optim.tree_utils`.
"""
# ruff: noqa: F401, A004  (re-exports; optax's names shadow builtins here only)

from optim.tree.access import NamedTupleKey, get, get_all_with_path, map_params, set
from optim.tree.access import map_params as tree_map_params  # optax's top-level name
from optim.tree.arithmetic import (
    add,
    add_scale,
    allclose,
    batch_shape,
    clip,
    conj,
    div,
    max,
    min,
    mul,
    norm,
    real,
    scale,
    size,
    sub,
    sum,
    update_infinity_moment,
    update_moment_per_elem_norm,
    vdot,
    where,
)
from optim.tree.creation import (
    cast,
    cast_like,
    dtype,
    full_like,
    ones_like,
    random_like,
    split_key_like,
    unwrap_random_key_data,
    zeros_like,
)
from optim.tree.maths import (
    bias_correction,
    tree_add,
    tree_add_scaled,
    tree_all_finite,
    tree_cast,
    tree_cast_like,
    tree_copy,
    tree_full_like,
    tree_global_norm,
    tree_scale,
    tree_sub,
    tree_sum_of_squares,
    tree_unzip,
    tree_vdot,
    tree_where,
    tree_zeros_like,
    update_moment,
)
