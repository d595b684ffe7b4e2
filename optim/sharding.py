"""Optimizer states placed like their params, eagerly and under `jit`.

    shardings = optim.state_shardings(tx, params)
    state = jax.jit(tx.init, out_shardings=shardings)(params)

Eagerly, `tx.init(params)` already builds every leaf shaped like a param with that param's
sharding (`optim.tree.tree_zeros_like` and friends use `jnp.zeros_like`, which keeps it).
Under `jit` nothing ties a constant to the params: XLA places a freshly built moment where it
likes (on one device, for `jit(tx.init)`), and a step that returns the state lets XLA choose
again. `state_shardings` gives `jit` the placement to keep, as its `out_shardings`.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding, PartitionSpec, Sharding, SingleDeviceSharding

from optim._core.structure import as_transform


def replicated_on(x: Any) -> Sharding | None:
    """The placement of an array built from `x` but not shaped like it: replicated on `x`'s
    mesh when `x` is a committed array with a `NamedSharding`, on `x`'s device when it is
    committed to one, and None (the default device, uncommitted, which `jit` moves where it
    is needed) otherwise, tracers included."""
    if isinstance(x, jax.core.Tracer) or not isinstance(x, jax.Array) or not x.committed:
        return None
    if isinstance(x.sharding, NamedSharding):
        return NamedSharding(x.sharding.mesh, PartitionSpec())
    return x.sharding if isinstance(x.sharding, SingleDeviceSharding) else None


def _where(path: Any, leaf: Any) -> tuple[Sharding | None, bool]:
    """A param's sharding, and whether it binds (a committed array, or a ShapeDtypeStruct with
    a sharding, as `jit` treats them); (None, False) for a leaf that carries none."""
    if isinstance(leaf, jax.core.Tracer):
        raise TypeError(
            "state_shardings takes concrete params (arrays, or jax.ShapeDtypeStructs with a "
            "sharding) and is called outside jit, to give jit its out_shardings; params"
            f"{jax.tree_util.keystr(path)} is a tracer"
        )
    if isinstance(leaf, jax.Array):
        return leaf.sharding, leaf.committed
    sharding = getattr(leaf, "sharding", None) if isinstance(leaf, jax.ShapeDtypeStruct) else None
    return (sharding, True) if isinstance(sharding, Sharding) else (None, False)


def _home(params: Any) -> tuple[list[Sharding], Sharding]:
    """Each param's sharding and the home: the replicated sharding of the params' one mesh, or
    their one device. A leaf that does not bind its placement gets the home."""
    found = [(path, *_where(path, leaf))
             for path, leaf in jax.tree_util.tree_leaves_with_path(params)]
    binding = [(path, s) for path, s, committed in found if committed]
    # Uncommitted arrays only: jit runs where they are (the default device).
    candidates = binding or [(path, s) for path, s, _ in found if s is not None]
    if not candidates:
        kinds = sorted({type(leaf).__name__ for leaf in jax.tree.leaves(params)})
        raise ValueError(
            "state_shardings needs to know where the params live: give them as jax.Arrays or "
            "as jax.ShapeDtypeStructs with a sharding (jax.ShapeDtypeStruct(shape, dtype, "
            "sharding=NamedSharding(mesh, P(...)))); got "
            + (", ".join(kinds) + " without one" if kinds else "params with no leaves")
        )
    spread = [(path, s) for path, s in binding if len(s.device_set) > 1]
    for path, s in spread:
        if not isinstance(s, NamedSharding):
            raise ValueError(
                "state_shardings replicates the state's other leaves on the params' mesh, so a "
                "param spread over several devices must have a NamedSharding; params"
                f"{jax.tree_util.keystr(path)} has {s!r}"
            )
    first_path, first = (spread or candidates)[0]
    for path, s in binding:
        if _place(s) != _place(first):
            raise ValueError(
                "state_shardings needs the params on one mesh (jit runs on one set of "
                f"devices); params{jax.tree_util.keystr(first_path)} is on {_describe(first)} "
                f"and params{jax.tree_util.keystr(path)} on {_describe(s)}"
            )
    if isinstance(first, NamedSharding):
        home: Sharding = NamedSharding(first.mesh, PartitionSpec())
    else:
        home = SingleDeviceSharding(next(iter(first.device_set)))
    return [s if committed else home for _, s, committed in found], home


def _place(sharding: Sharding) -> Any:
    """What two params must share to live in one program: the mesh, or the device."""
    if len(sharding.device_set) > 1:
        return sharding.mesh  # a NamedSharding, checked by `_home`
    return next(iter(sharding.device_set))


def _describe(sharding: Sharding) -> str:
    if len(sharding.device_set) > 1:
        return repr(sharding.mesh)
    return f"device {next(iter(sharding.device_set))}"


def state_shardings(optimizer: Any, params: Any) -> Any:
    """The sharding of every leaf of `optimizer.init(params)`, as a tree of `jax.sharding`s.

        shardings = optim.state_shardings(tx, params)
        state = jax.jit(tx.init, out_shardings=shardings)(params)

        @functools.partial(jax.jit, out_shardings=(param_shardings, shardings))
        def step(params, state, batch):
            grads = jax.grad(loss)(params, batch)
            updates, state = tx.update(grads, state, params)
            return optim.apply_updates(params, updates), state

    The tree has the structure of `jax.eval_shape(optimizer.init, params)`. Rule: in every
    subtree of the state with the params' tree structure (Adam's moments, Rprop's step sizes,
    lookahead's slow weights; a leaf a mask or a partition leaves out may be an empty node
    there, as `optim.MaskedNode`), each leaf with its param's shape gets that param's sharding,
    which is where eager `init` puts it. Every other leaf (step counts, scalars, keys, L-BFGS's
    flat memories, adafactor's factored vectors) is replicated on the params' mesh, or placed
    on their device when none is spread. Matching whole subtrees, not single leaves by shape,
    keeps a count of shape () away from a scalar param's sharding.

    `params` are arrays or `jax.ShapeDtypeStruct`s with a `sharding`, all on one mesh (or one
    device); a leaf that says nothing of its placement (a NumPy array, an uncommitted array
    among committed ones) is taken as replicated. For `optim.fused`, pass the `FlatTree`
    (`optim.flatten_params(params)`): on Auto mesh axes, `jit` sees a tree of params without their
    shardings and gathers them by dtype, so its state would not have the eager layout.

    On a mesh of Explicit axes the moments' types carry the params' shardings under `jit` too,
    so a bare `jax.jit(tx.init)(params)` needs either these `out_shardings` or a mesh context
    (`with jax.set_mesh(mesh):`), as optax's `init` does.
    """
    optimizer = as_transform(optimizer, "state_shardings' optimizer")
    own, home = _home(params)
    treedef = jax.tree.structure(params)
    shapes = [tuple(jnp.shape(x)) for x in jax.tree.leaves(params)]

    def parts(node: Any) -> list | None:
        """The node's items at the params' leaf positions, when it has their structure."""
        try:
            items = treedef.flatten_up_to(node)
        except (TypeError, ValueError):
            return None
        # A leaf position holds a leaf, or nothing (an empty node: a masked-out leaf).
        flat = [jax.tree.leaves(x) for x in items]
        if any(len(leaves) > 1 or (leaves and leaves[0] is not x)
               for leaves, x in zip(flat, items, strict=True)):
            return None
        return items

    def one(item: Any, sharding: Sharding, shape: tuple) -> Any:
        if not jax.tree.leaves(item):
            return item  # a hole stays a hole
        return sharding if tuple(jnp.shape(item)) == shape else home

    def shardings_of(node: Any) -> Any:
        items = parts(node)
        if items is None:
            return home
        return treedef.unflatten(list(map(one, items, own, shapes)))

    abstract = jax.eval_shape(optimizer.init, params)
    return jax.tree.map(shardings_of, abstract, is_leaf=lambda node: parts(node) is not None)
