"""The flat fast path for trees of many leaves.

- `flat_tree`: `FlatTree`, a tree held as one 1-D buffer per dtype (`flatten_params`,
  `unflatten`);
- `fused`: `fused(tx)`, an elementwise transform run on those buffers, and `fused_step`;
- `jaxpr_check`: the check that a foreign transform is elementwise.

Everything public is re-exported by `optim`; import it from there.
"""
