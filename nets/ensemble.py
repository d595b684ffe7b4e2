"""Model ensembles, and snapshot ensembles: "train 1, get M for free".

The lectures: train several models and average their predicted probability distributions,
then take the argmax (a couple of points of accuracy for free); cheaper, take snapshots of one
model during training under a cyclic learning rate (Huang et al., 2017, "Snapshot ensembles";
the schedule is SGDR, Loshchilov and Hutter, 2017). Each cycle anneals the learning rate from
`learning_rate` to `min_learning_rate` with a cosine, the params at its end are a snapshot, and
the restart to a large learning rate kicks the model towards another minimum.

    result = nets.snapshot_ensemble(model, params, nets.softmax_cross_entropy, data.train,
                                    cycles=5, epochs_per_cycle=4, batch_size=32,
                                    learning_rate=0.1)
    probabilities = nets.ensemble_predict(model, result.snapshots, data.test.x)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

import optim
import schedules
from _descent import validation
from nets.data import Split, num_batches
from nets.training.fit import fit
from nets.training.inputs import Loss, apply_fn_of, as_split
from nets.training.results import History


def ensemble_predict(model: Any, snapshots: Sequence[Any], x: jax.Array) -> jax.Array:
    """The members' predicted probabilities, averaged.

    Multiclass outputs `(n, classes)` are averaged softmaxes; single outputs `(n,)` or `(n, 1)`
    are averaged sigmoids, the probability of class 1.
    """
    if not snapshots:
        raise ValueError("an ensemble needs at least one member")
    apply_fn = apply_fn_of(model)

    def probabilities(params):
        outputs = apply_fn(params, x)
        if outputs.ndim == 1 or outputs.shape[-1] == 1:
            return jax.nn.sigmoid(outputs)
        return jax.nn.softmax(outputs, axis=-1)

    return sum(probabilities(p) for p in snapshots) / len(snapshots)


def ensemble_accuracy(model: Any, snapshots: Sequence[Any], data: Split | tuple) -> float:
    """The accuracy of the averaged probabilities (argmax; 0.5 threshold for binary)."""
    split = as_split(data, "data")
    p = ensemble_predict(model, snapshots, split.x)
    if p.ndim == 1 or p.shape[-1] == 1:
        predicted = (p.reshape(p.shape[0]) > 0.5).astype(jnp.int32)
    else:
        predicted = jnp.argmax(p, axis=-1)
    return float(jnp.mean(predicted == split.y.reshape(split.y.shape[0])))


class SnapshotEnsemble(NamedTuple):
    """`snapshots`: the params at the end of each cycle; `histories`: each cycle's `fit`
    history (the step learning rates show the restarts); `schedule`: the learning rate."""

    snapshots: list[Any]
    histories: list[History]
    schedule: Callable[[jax.Array], jax.Array]


def snapshot_ensemble(
    model: Any,
    params: Any,
    loss: Loss,
    train: Split | tuple,
    *,
    cycles: int,
    epochs_per_cycle: int,
    batch_size: int,
    learning_rate: float = 0.1,
    min_learning_rate: float = 0.0,
    optimizer: Callable[..., Any] = optim.sgd,
    optimizer_kwargs: dict[str, Any] | None = None,
    key: jax.Array | None = None,
    val: Split | tuple | None = None,
    drop_last: bool = True,
    progress: bool | None = None,
) -> SnapshotEnsemble:
    """Train one model through `cycles` cosine cycles with restarts; keep each cycle's end.

    The optimizer is `optim.inject_hyperparams(optimizer)(learning_rate=sgdr(...),
    **optimizer_kwargs)` (plain SGD by default, as in the paper with momentum 0.9 if you pass
    `optimizer_kwargs={"momentum": 0.9}`); one cycle lasts `epochs_per_cycle` epochs. The
    state carries over from cycle to cycle, so the training is one run cut at the restarts
    (and compiled once).
    """
    validation.integer("cycles", cycles, 1)
    validation.integer("epochs_per_cycle", epochs_per_cycle, 1)
    train = as_split(train, "train")
    steps = epochs_per_cycle * num_batches(len(train), batch_size, drop_last=drop_last)
    schedule = schedules.sgdr(learning_rate, steps, min_value=min_learning_rate)
    tx = optim.inject_hyperparams(optimizer)(learning_rate=schedule, **(optimizer_kwargs or {}))
    key = jax.random.key(0) if key is None else key
    snapshots, histories, state = [], [], None
    for cycle in range(cycles):
        result = fit(
            model, params, loss, tx, train, val=val, epochs=epochs_per_cycle,
            batch_size=batch_size, key=jax.random.fold_in(key, cycle), opt_state=state,
            drop_last=drop_last, progress=progress,
        )
        params, state = result.params, result.opt_state
        snapshots.append(params)
        histories.append(result.history)
    return SnapshotEnsemble(snapshots=snapshots, histories=histories, schedule=schedule)
