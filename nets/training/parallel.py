"""Training on several devices with jax's own sharding: data parallel and fully sharded.

    nets.fit(..., sharding="data")    # each batch split over the devices, params replicated
    nets.fit(..., sharding="fsdp")    # params and optimizer state split over them too

A `Parallel` plan names a mesh with a `data` axis and a mode. The compiled epoch is the same
program as on one device; the plan only adds sharding constraints, and XLA's SPMD partitioner
inserts the collectives (the gradient all-reduce, the all-gathers of sharded params):

- every full minibatch is split along its examples over the `data` axis, so each device computes
  the loss and gradients of `batch_size / n` examples and the mean is the mean over the batch;
- the last, smaller batch of an epoch (with `drop_last=False`) is computed whole on every device,
  which gives the one-device mean exactly whatever its size;
- under `"data"` the params and the optimizer state are replicated; under `"fsdp"` every leaf of
  the params and of the state is split along its largest dimension divisible by `n` (each device
  holds 1/n of it), and a leaf with no such dimension (a bias of 10, a step count) is replicated.

The data splits are placed replicated on every device (they are what the epoch gathers its
minibatches from). With several processes (`nets.init_distributed`), every process passes the
same arrays and the mesh spans the devices of all of them.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from _descent import validation

AXIS = "data"
MODES = ("data", "fsdp")


class Parallel(NamedTuple):
    """A mesh with a `data` axis and a mode (`"data"` or `"fsdp"`); hashable, so compiled
    epochs are cached per plan."""

    mesh: Mesh
    mode: str

    @property
    def size(self) -> int:
        return int(self.mesh.shape[AXIS])

    def spec(self, *parts: Any) -> NamedSharding:
        return NamedSharding(self.mesh, PartitionSpec(*parts))

    def leaf_sharding(self, shape: tuple[int, ...]) -> NamedSharding:
        """Where a param or state leaf of `shape` lives: replicated, or under `"fsdp"` split
        along its largest dimension that the devices divide."""
        if self.mode == "fsdp":
            sizes = [(size, axis) for axis, size in enumerate(shape) if size % self.size == 0]
            if sizes:
                _, axis = max(sizes)
                return self.spec(*[AXIS if a == axis else None for a in range(len(shape))])
        return self.spec()

    def shardings(self, tree: Any) -> Any:
        """The sharding of every leaf of `tree` (arrays or shape-dtype structs)."""
        return jax.tree.map(lambda x: self.leaf_sharding(tuple(np.shape(x))), tree)

    def batch(self, ndim: int) -> NamedSharding:
        """A minibatch of rank `ndim`, split along its examples."""
        return self.spec(AXIS, *[None] * (ndim - 1))

    def constrain(self, tree: Any) -> Any:
        """Inside a traced function: keep `tree`'s leaves where `shardings` puts them."""
        return jax.lax.with_sharding_constraint(tree, self.shardings(tree))

    def constrain_batch(self, tree: Any) -> Any:
        return jax.tree.map(lambda x: jax.lax.with_sharding_constraint(x, self.batch(x.ndim)),
                            tree)


def parallel_plan(sharding: Any, mesh: Any, *, batch_size: int) -> Parallel | None:
    """The checked plan of `fit(sharding=, mesh=)`: None for one device.

    `mesh` defaults to every device (of every process) on one `data` axis.
    """
    if sharding is None:
        if mesh is not None:
            raise ValueError("mesh= is used with sharding='data' or 'fsdp'; got sharding=None")
        return None
    sharding = validation.choice("sharding", sharding, MODES)
    if mesh is None:
        mesh = Mesh(np.asarray(jax.devices()), (AXIS,))
    if not isinstance(mesh, Mesh):
        raise TypeError(f"mesh must be a jax.sharding.Mesh, got {type(mesh).__name__}")
    if AXIS not in mesh.axis_names:
        raise ValueError(f"mesh must have a {AXIS!r} axis to split the batches over; its axes "
                         f"are {tuple(mesh.axis_names)}")
    plan = Parallel(mesh, sharding)
    if batch_size % plan.size:
        raise ValueError(
            f"batch_size={batch_size} is not divisible by the {plan.size} devices of the mesh's "
            f"{AXIS!r} axis: each device takes an equal part of every batch; use a multiple "
            f"of {plan.size}"
        )
    return plan


def place(tree: Any, shardings: Any) -> Any:
    """`tree`'s leaves as global arrays with `shardings`, from values every process holds.

    One process: `jax.device_put`. Several: each process builds its own shards from its copy
    (`jax.make_array_from_callback`), since no process may write to another's devices."""
    if jax.process_count() == 1:
        return jax.device_put(tree, shardings)

    def one(leaf, sharding):
        value = np.asarray(leaf)
        return jax.make_array_from_callback(value.shape, sharding, lambda index: value[index])

    return jax.tree.map(one, tree, shardings)


def to_host(tree: Any) -> Any:
    """NumPy copies of `tree`'s leaves, also of arrays spread over several processes (each
    leaf gathered if it is split, read from a local copy if it is replicated)."""

    def one(leaf):
        if not isinstance(leaf, jax.Array) or leaf.is_fully_addressable:
            return np.asarray(leaf)
        if leaf.is_fully_replicated:
            return np.asarray(leaf.addressable_data(0))
        from jax.experimental import multihost_utils

        return np.asarray(multihost_utils.process_allgather(leaf, tiled=True))

    return jax.tree.map(one, tree)


def place_run(plan: Parallel | None, params: Any, opt_state: Any, counters: Any,
              splits: tuple) -> tuple[Any, Any, Any, tuple]:
    """A run's starting point on the plan's devices: params and state where the mode puts
    them, counters and data splits replicated. Unchanged without a plan."""
    if plan is None:
        return params, opt_state, counters, splits
    replicated = plan.spec()
    params = place(params, plan.shardings(params))
    opt_state = place(opt_state, plan.shardings(opt_state))
    counters = place(counters, jax.tree.map(lambda _: replicated, counters))
    splits = tuple(None if s is None else place(s, jax.tree.map(lambda _: replicated, s))
                   for s in splits)
    return params, opt_state, counters, splits


def abstract(plan: Parallel | None, tree: Any, *, replicated: bool = False) -> Any:
    """Shape-dtype structs of `tree` carrying the shardings `place_run` gives it, to compile
    ahead for exactly the arrays the run will pass."""

    def one(x, sharding=None):  # weak types kept: the call must match what is compiled
        return jax.ShapeDtypeStruct(np.shape(x), x.dtype, sharding=sharding,
                                    weak_type=bool(getattr(x, "weak_type", False)))

    if plan is None:
        return jax.tree.map(one, tree)
    shardings = (jax.tree.map(lambda _: plan.spec(), tree) if replicated
                 else plan.shardings(tree))
    return jax.tree.map(one, tree, shardings)


def replicate(plan: Parallel | None, value: Any) -> Any:
    """A value made on the host each epoch (a shuffle key, the epoch number) as a global array
    replicated on the plan's devices, which a program spanning several processes needs.
    Unchanged in one process, where jit moves it itself."""
    if plan is None or jax.process_count() == 1:
        return value
    if jax.dtypes.issubdtype(value.dtype, jax.dtypes.prng_key):
        data = place(jax.random.key_data(value), plan.spec())
        return jax.random.wrap_key_data(data, impl=jax.random.key_impl(value))
    return place(value, plan.spec())
