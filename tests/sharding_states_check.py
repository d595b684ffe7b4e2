"""Run by tests/test_sharding_states.py on 8 simulated devices: do optimizer states follow their
params' sharding? Prints a JSON report: the cases checked and every failure, each naming the
mesh, the optimizer and the leaf.

    XLA_FLAGS=--xla_force_host_platform_device_count=8 python tests/sharding_states_check.py

Params: w (16, 4) and b (8,) sharded over P("data"), s (3,) replicated. For each optimizer:
(a) eager init: every state leaf under a param's key and of its shape has that param's sharding,
and no leaf is committed to one device only; (b) jit(init, out_shardings=state_shardings) gives
the same values and the same shardings; (c) one jitted step with those out_shardings keeps them
and equals the same step on one device to 1e-6.
"""

import json
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

import optim

CASES = {
    "sgd_momentum": lambda: optim.sgd(0.1, momentum=0.9),
    "nesterov": lambda: optim.sgd(0.1, momentum=0.9, nesterov=True),
    "adagrad": lambda: optim.adagrad(0.1),
    "rmsprop": lambda: optim.rmsprop(0.01, centered=True, momentum=0.9),
    "adadelta": lambda: optim.adadelta(),
    "adam": lambda: optim.adam(1e-2),
    "adamw": lambda: optim.adamw(1e-2),
    "nadam": lambda: optim.nadam(1e-2),
    "amsgrad": lambda: optim.amsgrad(1e-2),
    "lion": lambda: optim.lion(1e-3),
    "lamb": lambda: optim.lamb(1e-2),
    "lars": lambda: optim.lars(0.1),
    "adafactor": lambda: optim.adafactor(1e-2),
    "adafactor_factored": lambda: optim.adafactor(1e-2, min_dim_size_to_factor=4),
    "muon": lambda: optim.muon(1e-2),
    "rprop": lambda: optim.rprop(),
    "adaptive_gains": lambda: optim.adaptive_gains(momentum=0.9),
    "schedule_free_adamw": lambda: optim.schedule_free_adamw(1e-2),
    "noisy_sgd": lambda: optim.noisy_sgd(0.1),
    "inject_hyperparams_adam": lambda: optim.inject_hyperparams(optim.adam)(learning_rate=1e-2),
    "chain_clip_adam": lambda: optim.chain(optim.clip_by_global_norm(1.0), optim.adam(1e-2)),
    "multi_steps_adam": lambda: optim.MultiSteps(optim.adam(1e-2), 1),
    "apply_if_finite_adam": lambda: optim.apply_if_finite(optim.adam(1e-2), 3),
    "lookahead_adam": lambda: optim.lookahead(optim.adam(1e-2)),
    "ema_params": lambda: optim.chain(optim.adam(1e-2), optim.ema_params(0.9)),
    "ema_params_undebiased": lambda: optim.chain(
        optim.adam(1e-2), optim.ema_params(0.9, debias=False)),
    "sam_adam": lambda: optim.sam(optim.adam(1e-2)),
    "masked_adam": lambda: optim.masked(optim.adam(1e-2), {"w": True, "b": False, "s": True}),
    "partition": lambda: optim.partition(
        {"adam": optim.adam(1e-2), "sgd": optim.sgd(0.1, momentum=0.9)},
        {"w": "adam", "b": "sgd", "s": "adam"}),
    "fused_adam": lambda: optim.fused(optim.adam(1e-2)),
}


# Not a state question, reported rather than hidden: on Explicit axes, jnp.matmul refuses to
# guess the output sharding when it contracts a sharded axis, as Newton-Schulz's `m @ m.T` does.
STEP_SKIPPED = {("explicit", "muon"): "Newton-Schulz contracts a sharded axis (ShardingTypeError)"}


def values(seed):
    rng = np.random.default_rng(seed)
    return {"w": rng.normal(size=(16, 4)).astype(np.float32),
            "b": rng.normal(size=(8,)).astype(np.float32),
            "s": rng.normal(size=(3,)).astype(np.float32)}


def placed(tree, mesh):
    specs = {"w": P("data"), "b": P("data"), "s": P()}
    return {k: jax.device_put(v, NamedSharding(mesh, specs[k])) for k, v in tree.items()}


def leaves(tree):
    return {jax.tree_util.keystr(p): x for p, x in jax.tree_util.tree_leaves_with_path(tree)}


def owner(path, x, params):
    """The param whose key ends the leaf's path and whose shape the leaf has, or None. A fused
    buffer of one param is named "<dtype>['<key>']"."""
    for key, p in params.items():
        if path.endswith(f"['{key}']") or path.endswith(f"[\"float32['{key}']\"]"):
            if jnp.shape(x) == p.shape:
                return key
    return None


def check_case(name, make, mesh_name, mesh, failures):
    tx, params, grads = make(), placed(values(0), mesh), placed(values(1), mesh)
    fused = name.startswith("fused")
    if fused:
        params, grads = optim.flatten_params(params), optim.flatten_params(grads)
    tree_params = params.unflatten() if fused else params
    fail = lambda what: failures.append(f"{mesh_name} mesh, {name}: {what}")

    def check_placement(state, when):
        """The number of leaves found under a param's key with its shape, each checked."""
        matched = 0
        for path, x in leaves(state).items():
            key = owner(path, x, tree_params)
            if key is not None:
                matched += 1
                if not x.sharding.is_equivalent_to(tree_params[key].sharding, x.ndim):
                    fail(f"{when} state{path} has {x.sharding}, params['{key}'] has "
                         f"{tree_params[key].sharding}")
            elif x.committed and len(x.sharding.device_set) == 1:
                fail(f"{when} state{path} is committed to {x.sharding}")
        return matched

    eager = tx.init(params)
    matched = check_placement(eager, "eager init:")
    shardings = optim.state_shardings(tx, params)
    jitted = jax.jit(tx.init, out_shardings=shardings)(params)
    matched += check_placement(jitted, "jit init:")
    for (path, x), y in zip(leaves(eager).items(), jax.tree.leaves(jitted), strict=True):
        if x.dtype != y.dtype or not np.array_equal(x, y):
            fail(f"jit init: state{path} differs from eager ({y.dtype} vs {x.dtype})")
        if x.committed and not x.sharding.is_equivalent_to(y.sharding, x.ndim):
            fail(f"jit init: state{path} has {y.sharding}, eager {x.sharding}")

    if (mesh_name, name) in STEP_SKIPPED:
        return matched

    def step(params, state, grads):
        updates, state = tx.update(grads, state, params)
        return optim.apply_updates(params, updates), state

    param_shardings = jax.tree.map(lambda x: x.sharding, params)
    new_params, new_state = jax.jit(step, out_shardings=(param_shardings, shardings))(
        params, jitted, grads)
    matched += check_placement(new_state, "after a step:")
    check_placement(new_params, "after a step: params")
    on_one = lambda t: jax.device_put(jax.tree.map(np.asarray, t), jax.devices()[0])
    one = jax.jit(step)(on_one(params), on_one(tx.init(on_one(params))), on_one(grads))
    for (path, x), y in zip(leaves((new_params, new_state)).items(), jax.tree.leaves(one),
                            strict=True):
        if not np.allclose(x, y, rtol=1e-6, atol=1e-6):
            fail(f"after a step: {path} differs from the one-device step by "
                 f"{np.max(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64)))}")
    if fused:
        check_fused(tx, params, grads, new_params, fail)
    return matched


def check_fused(tx, flat, grads, new_flat, fail):
    """The sharded leaves keep buffers of their own, through optim.fused_step too, with the
    per-leaf path's values bit for bit; so does init given the params as a tree, eagerly, and
    traced on Explicit axes (where a tracer's type carries its sharding)."""
    names = ["float32", "float32['b']", "float32['w']"]
    if sorted(flat.buffers) != names:
        fail(f"flatten: buffers {sorted(flat.buffers)}")
    tree = flat.unflatten()
    mu = tx.init(tree)[0].mu
    if sorted(mu.buffers) != names or any(
            not mu.buffers[f"float32['{k}']"].sharding.is_equivalent_to(tree[k].sharding,
                                                                         tree[k].ndim)
            for k in "wb"):
        fail(f"init of a tree: moments {[(k, str(b.sharding)) for k, b in mu.buffers.items()]}")
    explicit = tree["w"].sharding.mesh.axis_types[0] == jax.sharding.AxisType.Explicit
    traced = sorted(jax.eval_shape(tx.init, tree)[0].mu.buffers)
    if explicit and traced != names:
        fail(f"init of a tree under jit on Explicit axes: buffers {traced}")
    params, state = optim.fused_step(tx, donate=False)(flat, tx.init(flat), grads)
    mu = state[0].mu
    for key in ("w", "b"):
        buffer = f"float32['{key}']"
        for what, x in (("params", params.buffers[buffer]), ("mu", mu.buffers[buffer])):
            if not x.sharding.is_equivalent_to(flat.buffers[buffer].sharding, x.ndim):
                fail(f"fused_step: {what} {buffer} has {x.sharding}")
    plain = optim.adam(1e-2)
    updates, _ = jax.jit(plain.update)(grads.unflatten(), plain.init(tree), tree)
    expected = optim.apply_updates(tree, updates)
    for key, x in params.unflatten().items():
        if not np.array_equal(x, expected[key]) or not np.array_equal(x, new_flat.unflatten()[key]):
            fail(f"fused_step: params['{key}'] differs from the per-leaf step")


def check_errors(failures):
    """state_shardings' bad input: no sharding information at all, two meshes."""
    devices = np.array(jax.devices())
    halves = Mesh(devices[:4], ("data",)), Mesh(devices[4:], ("data",))
    two = {"a": jax.device_put(jnp.ones(8), NamedSharding(halves[0], P("data"))),
           "b": jax.device_put(jnp.ones(8), NamedSharding(halves[1], P("data")))}
    bare = {"a": jax.ShapeDtypeStruct((8,), jnp.float32)}
    for params, words in ((two, ["params['a']", "params['b']", "one mesh"]),
                          (bare, ["ShapeDtypeStruct", "sharding"])):
        try:
            optim.state_shardings(optim.adam(1e-3), params)
            failures.append(f"state_shardings accepted {params}")
        except ValueError as error:
            missing = [w for w in words if w not in str(error)]
            if missing:
                failures.append(f"state_shardings' error {error!r} does not name {missing}")


def main():
    assert len(jax.devices()) == 8, jax.devices()
    failures, matched, start = [], {}, time.perf_counter()
    meshes = {"auto": Mesh(np.array(jax.devices()), ("data",)),
              "explicit": jax.make_mesh((8,), ("data",))}
    for mesh_name, mesh in meshes.items():
        for name, make in CASES.items():
            try:
                matched[f"{mesh_name} {name}"] = check_case(name, make, mesh_name, mesh, failures)
            except Exception as error:  # a crash is a failure of that case, named
                failures.append(f"{mesh_name} mesh, {name}: {type(error).__name__}: {error}")
    check_errors(failures)
    skipped = {f"{m} {n}": why for (m, n), why in STEP_SKIPPED.items()}
    print(json.dumps({"matched": matched, "failures": failures, "step_skipped": skipped,
                      "seconds": round(time.perf_counter() - start, 1)}))


if __name__ == "__main__":
    main()
