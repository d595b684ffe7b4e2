"""optax.tree_utils' spellings of `optim.tree`'s functions: `tree_get` is `optim.tree.get`,
`tree_norm` is `optim.tree.norm`, and so on (the same function objects), so code written
against `optax.tree_utils` runs unchanged.

These follow optax's semantics (`tree_scale(s, x)` is `s * x` with NumPy's promotion); the
library's own `optim.tree.tree_scale` and siblings keep each leaf's dtype, so the two modules'
`tree_scale`, `tree_add`, ... are different functions on purpose.
"""
from optim import tree as _tree

NamedTupleKey = _tree.NamedTupleKey
tree_add = _tree.add
tree_add_scale = _tree.add_scale
tree_allclose = _tree.allclose
tree_batch_shape = _tree.batch_shape
tree_bias_correction = _tree.bias_correction
tree_cast = _tree.cast
tree_cast_like = _tree.cast_like
tree_clip = _tree.clip
tree_conj = _tree.conj
tree_div = _tree.div
tree_dtype = _tree.dtype
tree_full_like = _tree.full_like
tree_get = _tree.get
tree_get_all_with_path = _tree.get_all_with_path
tree_map_params = _tree.map_params
tree_max = _tree.max
tree_min = _tree.min
tree_mul = _tree.mul
tree_norm = _tree.norm
tree_ones_like = _tree.ones_like
tree_random_like = _tree.random_like
tree_real = _tree.real
tree_scale = _tree.scale
tree_set = _tree.set
tree_size = _tree.size
tree_split_key_like = _tree.split_key_like
tree_sub = _tree.sub
tree_sum = _tree.sum
tree_unwrap_random_key_data = _tree.unwrap_random_key_data
tree_update_infinity_moment = _tree.update_infinity_moment
tree_update_moment = _tree.update_moment
tree_update_moment_per_elem_norm = _tree.update_moment_per_elem_norm
tree_vdot = _tree.vdot
tree_where = _tree.where
tree_zeros_like = _tree.zeros_like

__all__ = sorted(name for name in dir() if name.startswith("tree_") or name == "NamedTupleKey")
del _tree
