"""Run by tests/test_scale_out.py in a process with several (simulated) devices: trains the
same runs on one device and sharded, and prints a JSON report of what the test asserts.

    XLA_FLAGS=--xla_force_host_platform_device_count=8 python tests/scale_out_child.py fit DIR
"""

import json
import sys

import jax
import jax.numpy as jnp
import numpy as np

import nets
import optim

DATA = nets.load_digits(seed=0)
MODEL = nets.MLP([64, 64, 32, 10])  # widths divisible by 8; the output bias of 10 is not
LOSS = nets.softmax_cross_entropy


def _difference(a, b) -> float:
    pairs = zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    return max(float(jnp.max(jnp.abs(jnp.asarray(x, jnp.float32) - jnp.asarray(y, jnp.float32))))
               for x, y in pairs)


def _placement(tree) -> list[dict]:
    """Per leaf: its path, shape, the fraction of it the first device holds, replicated?"""
    rows = []
    for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
        share = leaf.addressable_shards[0].data.size / max(leaf.size, 1)
        rows.append({"path": jax.tree_util.keystr(path), "shape": list(leaf.shape),
                     "share": share, "replicated": bool(leaf.sharding.is_fully_replicated)})
    return rows


def fit_report(directory: str) -> dict:
    # drop_last=False: the last batch of each epoch is smaller than the others.
    kwargs = dict(val=DATA.val, epochs=3, batch_size=32, key=jax.random.key(1), drop_last=False)
    params = MODEL.init(jax.random.key(0))
    optimizer = optim.adam(3e-3)
    one = nets.fit(MODEL, params, LOSS, optimizer, DATA.train, **kwargs)
    report = {"devices": jax.device_count(), "train": len(DATA.train), "modes": {}}
    for mode in ("data", "fsdp"):
        run = nets.fit(MODEL, params, LOSS, optimizer, DATA.train, **kwargs, sharding=mode)
        report["modes"][mode] = {
            "params": _difference(one.params, run.params),
            "opt_state": _difference(one.opt_state, run.opt_state),
            "step_loss": float(np.max(np.abs(one.history.step_loss - run.history.step_loss))),
            "state": _placement(run.opt_state),
            "param_placement": _placement(run.params),
        }
    # A sharded run checkpointed and resumed ends where the uninterrupted sharded run ends.
    whole = nets.fit(MODEL, params, LOSS, optimizer, DATA.train, **kwargs, sharding="fsdp")
    nets.fit(MODEL, params, LOSS, optimizer, DATA.train, **{**kwargs, "epochs": 1},
             sharding="fsdp", checkpoint_dir=directory)
    resumed = nets.fit(MODEL, params, LOSS, optimizer, DATA.train, **kwargs, sharding="fsdp",
                       checkpoint_dir=directory, resume=True)
    report["resumed"] = {"params": _difference(whole.params, resumed.params),
                         "opt_state": _difference(whole.opt_state, resumed.opt_state),
                         "state": _placement(resumed.opt_state)}
    try:
        nets.fit(MODEL, params, LOSS, optimizer, DATA.train, **{**kwargs, "batch_size": 30},
                 sharding="data")
    except ValueError as error:
        report["indivisible"] = str(error)
    grid = dict(grid={"learning_rate": [1e-3, 1e-2]}, seeds=[0, 1], epochs=2, batch_size=32,
                val=DATA.val, test=DATA.test, drop_last=False)
    small = nets.MLP([64, 32, 10])
    alone = nets.sweep(small, LOSS, optim.adam, DATA.train, **grid)
    spread = nets.sweep(small, LOSS, optim.adam, DATA.train, **grid, sharding="data")
    report["sweep"] = {"step_loss": float(np.max(np.abs(alone.step_loss - spread.step_loss))),
                       "test_metric": float(np.max(np.abs(alone.test_metric -
                                                          spread.test_metric)))}
    return report


if __name__ == "__main__":
    print(json.dumps(fit_report(sys.argv[2])))
