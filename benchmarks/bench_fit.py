"""Time `nets.fit` against a hand-written optax loop, and a sweep against sequential runs.

    python benchmarks/bench_fit.py [--json benchmarks/bench_fit.json] [--quick]

1. fit: the MLP 64-256-256-10 on the digits with Adam (1e-3), batch size 32, 20 epochs.
   `nets.fit` (one `lax.scan` dispatch per epoch, donated buffers, per-epoch evaluation of the
   train and validation loss) against the usual hand-written optax loop (a jitted, donated step
   called once per minibatch from Python, the minibatches cut from one `jax.random.permutation`
   per epoch). Reported: the steady-state time per epoch (median over epochs 2..20) and the
   total time of 20 epochs including compilation, with the ratios fit / optax.
2. sweep: AdamW on the digits with an MLP 64-64-10, learning rate x weight decay (4 x 2) x 2
   seeds = 16 runs of 5 epochs (`--sweep-epochs`). `nets.sweep` (one vmapped program)
   against the same 16 runs trained one after the other with `nets.fit`, (a) each with its
   own optimizer, as a plain loop over `optim.adamw(lr, wd)` would (one compilation per run)
   and (b) sharing one compiled program through `inject_hyperparams` state
   (`opt_state=set_field(...)`).

Both parts first run an untimed one-epoch fit, so that the small programs every variant shares
(random init, zeros, copies) are compiled before the clock starts. Times are wall-clock
seconds on this machine and are recorded, never asserted; the load
average at the start is printed with them because other work on a shared machine skews them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import nets
import optim


def _block(tree):
    return jax.block_until_ready(tree)


def _warm_up(data, model) -> None:
    """Compile the small eager programs every run shares (random init, zeros, copies) so
    that the timed variants start on equal terms."""
    result = nets.fit(model, model.init(jax.random.key(9)), nets.softmax_cross_entropy,
                      optim.sgd(0.01), data.train, val=data.val, epochs=1, batch_size=32)
    _block(result.params)


def bench_fit(epochs: int) -> dict:
    data = nets.load_digits(seed=0)
    model = nets.MLP([64, 256, 256, 10])
    params = model.init(jax.random.key(0))
    key = jax.random.key(1)
    batch_size = 32
    _warm_up(data, model)

    start = time.perf_counter()
    result = nets.fit(model, params, nets.softmax_cross_entropy, optim.adam(1e-3), data.train,
                      val=data.val, epochs=epochs, batch_size=batch_size, key=key)
    _block(result.params)
    fit_total = time.perf_counter() - start
    fit_epoch = statistics.median(result.history.seconds[1:])

    # The hand-written optax loop.
    start = time.perf_counter()
    tx = optax.adam(1e-3)

    def loss_fn(p, x, y):
        return optax.softmax_cross_entropy_with_integer_labels(model.apply(p, x), y).mean()

    @jax.jit
    def evaluate(p, x, y):
        return loss_fn(p, x, y)

    def step(p, s, x, y):
        value, grads = jax.value_and_grad(loss_fn)(p, x, y)
        updates, s = tx.update(grads, s, p)
        return optax.apply_updates(p, updates), s, value

    step = jax.jit(step, donate_argnums=(0, 1))
    p = jax.tree.map(jnp.copy, params)
    s = tx.init(p)
    x, y = data.train
    n = len(data.train)
    epoch_times = []
    for epoch in range(epochs):
        begin = time.perf_counter()
        order = jax.random.permutation(jax.random.fold_in(key, epoch), n)
        for i in range(n // batch_size):
            index = order[i * batch_size:(i + 1) * batch_size]
            p, s, value = step(p, s, x[index], y[index])
        # per-epoch train and validation loss, as fit computes them
        float(evaluate(p, x, y)), float(evaluate(p, *data.val))
        epoch_times.append(time.perf_counter() - begin)
    optax_total = time.perf_counter() - start
    optax_epoch = statistics.median(epoch_times[1:])
    test_fit = nets.evaluate(model, result.params, nets.softmax_cross_entropy, data.test)
    test_optax = nets.evaluate(model, p, nets.softmax_cross_entropy, data.test)
    return {
        "epochs": epochs,
        "steps_per_epoch": n // batch_size,
        "fit_epoch_seconds": fit_epoch,
        "optax_loop_epoch_seconds": optax_epoch,
        "epoch_ratio_fit_over_optax": fit_epoch / optax_epoch,
        "fit_total_seconds": fit_total,
        "optax_loop_total_seconds": optax_total,
        "total_ratio_fit_over_optax": fit_total / optax_total,
        "fit_test_accuracy": test_fit["accuracy"],
        "optax_loop_test_accuracy": test_optax["accuracy"],
    }


def bench_sweep(epochs: int) -> dict:
    data = nets.load_digits(seed=0)
    model = nets.MLP([64, 64, 10])
    grid = {"learning_rate": [3e-4, 1e-3, 3e-3, 1e-2], "weight_decay": [0.0, 1e-2]}
    seeds = [0, 1]
    common = {"val": data.val, "epochs": epochs, "batch_size": 32}
    loss = nets.softmax_cross_entropy
    _warm_up(data, model)

    start = time.perf_counter()
    swept = nets.sweep(model, loss, optim.adamw, data.train, grid=grid, seeds=seeds, **common)
    _block(swept.params)
    sweep_seconds = time.perf_counter() - start
    start = time.perf_counter()  # the same sweep again: its program is cached
    again = nets.sweep(model, loss, optim.adamw, data.train, grid=grid, seeds=seeds, **common)
    _block(again.params)
    sweep_warm_seconds = time.perf_counter() - start

    runs = [(lr, wd, seed) for lr in grid["learning_rate"] for wd in grid["weight_decay"]
            for seed in seeds]
    start = time.perf_counter()
    for lr, wd, seed in runs:
        init_key, shuffle_key = nets.seed_keys(seed)
        result = nets.fit(model, model.init(init_key), loss,
                          optim.adamw(learning_rate=lr, weight_decay=wd), data.train,
                          key=shuffle_key, **common)
        _block(result.params)
    separate_seconds = time.perf_counter() - start

    tx = optim.inject_hyperparams(optim.adamw)(learning_rate=1e-3, weight_decay=0.0)

    def shared_program_runs() -> float:
        start = time.perf_counter()
        for lr, wd, seed in runs:
            init_key, shuffle_key = nets.seed_keys(seed)
            params = model.init(init_key)
            state = optim.set_field(tx.init(params), learning_rate=lr, weight_decay=wd)
            result = nets.fit(model, params, loss, tx, data.train, key=shuffle_key,
                              opt_state=state, **common)
            _block(result.params)
        return time.perf_counter() - start

    shared_seconds = shared_program_runs()
    shared_warm_seconds = shared_program_runs()  # its program compiled by the first pass
    return {
        "runs": len(runs),
        "epochs": epochs,
        "sweep_seconds": sweep_seconds,
        "sweep_compiled_seconds": sweep_warm_seconds,
        "sequential_separate_optimizers_seconds": separate_seconds,
        "sequential_shared_program_seconds": shared_seconds,
        "sequential_shared_program_compiled_seconds": shared_warm_seconds,
        "speedup_compiled": shared_warm_seconds / sweep_warm_seconds,
        "speedup_over_separate": separate_seconds / sweep_seconds,
        "speedup_over_shared_program": shared_seconds / sweep_seconds,
        "best": swept.best,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default=os.path.join(os.path.dirname(__file__),
                                                       "bench_fit.json"))
    parser.add_argument("--quick", action="store_true", help="fewer epochs (a smoke run)")
    parser.add_argument("--sweep-epochs", type=int, default=5)
    args = parser.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    cpu_start = time.process_time()
    fit_result = bench_fit(3 if args.quick else 20)
    sweep_result = bench_sweep(2 if args.quick else args.sweep_epochs)
    report = {
        "machine": {"cpus": os.cpu_count(), "load_average_1min": load,
                    "python": platform.python_version(), "jax": jax.__version__,
                    "optax": optax.__version__},
        "fit": fit_result,
        "sweep": sweep_result,
    }
    f, s = fit_result, sweep_result
    cpu = time.process_time() - cpu_start
    report["cpu_seconds"] = cpu
    print(f"load average at start: {load:.2f} on {os.cpu_count()} CPUs; {cpu:.1f} s of CPU")
    print(f"fit, digits MLP 64-256-256-10, Adam, batch 32, {f['epochs']} epochs "
          f"({f['steps_per_epoch']} steps/epoch):")
    print(f"  per epoch  fit {1e3 * f['fit_epoch_seconds']:7.1f} ms   optax loop "
          f"{1e3 * f['optax_loop_epoch_seconds']:7.1f} ms   ratio fit/optax "
          f"{f['epoch_ratio_fit_over_optax']:.2f}")
    print(f"  total      fit {f['fit_total_seconds']:7.2f} s    optax loop "
          f"{f['optax_loop_total_seconds']:7.2f} s    ratio fit/optax "
          f"{f['total_ratio_fit_over_optax']:.2f}")
    print(f"sweep, {s['runs']} runs x {s['epochs']} epochs (AdamW, MLP 64-64-10):")
    print(f"  one vmapped program {s['sweep_seconds']:.2f} s; sequential fits "
          f"{s['sequential_separate_optimizers_seconds']:.2f} s (speed-up "
          f"{s['speedup_over_separate']:.1f}x), sharing one program "
          f"{s['sequential_shared_program_seconds']:.2f} s (speed-up "
          f"{s['speedup_over_shared_program']:.1f}x)")
    print(f"  once compiled: the sweep again {s['sweep_compiled_seconds']:.2f} s, the shared-"
          f"program runs again {s['sequential_shared_program_compiled_seconds']:.2f} s "
          f"(speed-up {s['speedup_compiled']:.1f}x)")
    with open(args.json, "w") as file:
        json.dump(report, file, indent=2, default=float)
    print(f"wrote {args.json}")


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    main()
