"""Optimizer steps against optax and the machine's memory-bandwidth limit.

    python -m benchmarks.bench_optim --json benchmarks/out/optim.json          # full
    python -m benchmarks.bench_optim --quick --json benchmarks/out/optim.json  # a few minutes

1. The limit: a jitted `a*x + y` on arrays far larger than the caches (y donated, 12 bytes per
   entry). It is timed before and after all the steps, and, for the shares, inside each case's
   timing loop, interleaved with the steps: a share of the limit then compares a step with
   the limit measured under the same load (the machine is shared; its bandwidth varies from
   minute to minute by more than the differences measured here).
2. For each tree (1 leaf x 10M, 100 leaves x 100k, 2000 leaves x 500, an MLP 2048-4096x3-2048
   of 50M params) and each step (Adam; the chain clip + Adam + weight decay + cosine learning
   rate), each implementation runs the same jitted step, params and state donated:
     optax       optax 0.2.x, leaf by leaf
     ours        this library, leaf by leaf
     fused-tree  optim.fused(ours) with params and grads as trees (gathered, split back)
     fused-flat  optim.fused(ours) with params and grads as FlatTrees (optim.flatten_params)
   Correctness first: after a few steps from the same start, every implementation's params
   are compared with optax's (close) and with ours leaf by leaf (bits); then timings: the
   median of many steps in several repeats, implementations interleaved, with the spread, the
   first call (trace + compile + run) and the compiled program's memory.
3. Ratios against optax and shares of the limit (bytes per parameter: Adam 28 = read params,
   grads, two moments, write params, two moments; the chain 32 = one more read of the grads
   for the norm), checked against the targets of the performance issue. Beside them, the
   bytes the compiled step really moves (XLA's cost analysis: Adam on XLA:CPU is three kernels
   and 40 bytes per parameter) and the share of the limit those bytes reach.

Timings are of this machine at this moment: the load average is recorded at start and end.
The trees, steps, cases and implementations are in benchmarks/_optim_cases.py.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from typing import Any

import jax

from benchmarks._optim_cases import (
    CASES,
    LIMIT_ENTRIES,
    TARGETS,
    Case,
    compare,
    implementations,
    measure_bandwidth,
    optax,
    prepare,
    triad_kernel,
)
from benchmarks._timing import Timings, fmt_ms, load_average, time_calls


def print_shares(results: list[dict]) -> None:
    print("\n== shares of the bandwidth limit")
    for result in results:
        shares = ", ".join(
            f"{name} {row['share_of_limit']:.0%}"
            + (
                f" ({row['bytes_moved_per_param']:.0f} B/param moved: "
                f"{row['share_of_limit_moved']:.0%})"
                if row.get("bytes_moved_per_param")
                else ""
            )
            for name, row in result["implementations"].items()
        )
        print(f"   {result['case']:<34} {shares}")


def run_case(case: Case, args: argparse.Namespace) -> dict[str, Any]:
    many = len(jax.tree.leaves(case.tree(), is_leaf=lambda x: isinstance(x, tuple))) > 100
    impls = [
        i
        for i in implementations(case.step, many, args.quick)
        if not args.impls or i.name in args.impls
    ]
    key = jax.random.key(0)
    print(f"\n== {case.name}", flush=True)
    prepared = []
    for impl in impls:
        p = prepare(impl, case, key, args.check_steps)
        prepared.append(p)
        print(
            f"   {impl.name:<11} first call {p.first_call_s:8.2f} s (compile {p.compile_s:.2f} s)"
            f"  donated: {p.donated}",
            flush=True,
        )
    correctness = compare(prepared)
    for name, row in correctness.items():
        shown = ", ".join(
            f"{k}={v:.2e}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()
        )
        print(f"   check {name:<11} {shown}", flush=True)

    n_params = sum(
        math.prod(s) for s in jax.tree.leaves(case.tree(), is_leaf=lambda x: isinstance(x, tuple))
    )
    step_bytes = case.bytes_per_param * n_params
    # Many short repeats, implementations interleaved: a burst of load from other processes
    # then hits every implementation alike instead of one of them.
    steps = max(4, case.steps // (2 * args.repeats // 3 + 1))
    timings = {p.impl.name: Timings() for p in prepared}
    triad, triad_x, triad_y = triad_kernel(LIMIT_ENTRIES)
    limit_timings = Timings()
    for _ in range(args.repeats):
        for p in prepared:  # interleaved, so that a burst of load hits every implementation
            seconds, p.carry = time_calls(
                lambda c, step=p.step, grads=p.grads: step(*c, grads), p.carry, steps
            )
            timings[p.impl.name].add_repeat(seconds)
        seconds, triad_y = time_calls(lambda y, x=triad_x: triad(y, x), triad_y, steps)
        limit_timings.add_repeat(seconds)
    del triad_x, triad_y
    limit = 12 * LIMIT_ENTRIES / limit_timings.median / 1e9
    print(f"   limit (a*x+y, timed between the steps): {limit:.1f} GB/s")

    rows = {}
    optax_t = timings["optax"].median if "optax" in timings else None
    optax_c = next((p.first_call_s for p in prepared if p.impl.name == "optax"), None)
    for p in prepared:
        t = timings[p.impl.name]
        summary = t.summary()
        rows[p.impl.name] = {
            **summary,
            "first_call_s": p.first_call_s,
            "compile_s": p.compile_s,
            "share_of_limit": step_bytes / summary["median_s"] / 1e9 / limit,
            "gb_per_s": step_bytes / summary["median_s"] / 1e9,
            "bytes_moved_per_param": p.moved / n_params if p.moved else None,
            "share_of_limit_moved": p.moved / summary["median_s"] / 1e9 / limit
            if p.moved
            else None,
            "time_vs_optax": summary["median_s"] / optax_t if optax_t else None,
            "compile_vs_optax": p.first_call_s / optax_c if optax_c else None,
            "memory_bytes": p.memory,
            "donated": p.donated,
            "correctness": correctness[p.impl.name],
        }
    print(
        f"   {'impl':<11} {'ms/step':>8} {'p10-p90':>15} {'GB/s':>6} {'vs optax':>8} "
        f"{'1st call s':>10} {'vs optax':>8} {'peak MiB':>8}"
    )
    for name, r in rows.items():
        peak = r["memory_bytes"]["peak"] / 2**20 if r["memory_bytes"] else float("nan")
        vs = f"{r['time_vs_optax']:.3f}" if r["time_vs_optax"] else "-"
        cvs = f"{r['compile_vs_optax']:.3f}" if r["compile_vs_optax"] else "-"
        print(
            f"   {name:<11} {fmt_ms(r['median_s']):>8} "
            f"{fmt_ms(r['p10_s']) + '-' + fmt_ms(r['p90_s']):>15} {r['gb_per_s']:>6.1f} "
            f"{vs:>8} {r['first_call_s']:>10.2f} {cvs:>8} {peak:>8.0f}",
            flush=True,
        )
    del prepared
    return {
        "case": case.name,
        "step": case.step,
        "params": n_params,
        "leaves": len(jax.tree.leaves(case.tree(), is_leaf=lambda x: isinstance(x, tuple))),
        "bytes_per_param": case.bytes_per_param,
        "steps_per_repeat": steps,
        "repeats": args.repeats,
        "limit": {"gb_per_s": limit, **limit_timings.summary()},
        "implementations": rows,
    }


def check_targets(results: list[dict]) -> list[dict]:
    by_case = {r["case"]: r["implementations"] for r in results}
    verdicts = []
    for case, metric, op, bound in TARGETS:
        row = by_case.get(case, {}).get("fused-flat")
        value = None if row is None else row.get(metric)
        met = None if value is None else (value >= bound if op == ">=" else value <= bound)
        verdicts.append(
            {"case": case, "metric": metric, "target": f"{op} {bound}", "value": value, "met": met}
        )
    return verdicts


def markdown(data: dict[str, Any]) -> str:
    """The results as Markdown tables (for benchmarks/RESULTS.md)."""
    env, lines, bw = data["environment"], [], data["bandwidth"]
    measured = (
        f" (start {bw['start']['gb_per_s']:.1f}, end {bw['end']['gb_per_s']:.1f})"
        if "start" in bw
        else ""
    )
    lines.append(
        f"jax {env['jax']}, optax {env['optax']}, {env['backend']}, {env['cpu_count']} cores; "
        f"bandwidth (a*x+y, y donated) {bw['gb_per_s']:.1f} GB/s{measured}, each case's "
        "own limit below; "
        f"load average {env['load_average_start']:.1f} -> {env['load_average_end']:.1f}; "
        f"{env['wall_s']:.0f} s; `{env['command']}`."
    )
    lines.append("")
    lines.append(
        "| step and tree | impl | ms/step (median) | p10-p90 | share of limit | vs optax "
        "| first call s | vs optax | bytes/param moved | share, bytes moved | peak MiB | donated "
        "| equals (max abs diff) |"
    )
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for case in data["cases"]:
        for name, r in case["implementations"].items():
            peak = r["memory_bytes"]["peak"] / 2**20 if r["memory_bytes"] else float("nan")
            check = r["correctness"]
            if check.get("bitwise_vs_ours"):
                equals = "ours, bitwise"
            elif "max_abs_diff_vs_ours" in check:
                equals = f"ours {check['max_abs_diff_vs_ours']:.0e}"
            elif "max_abs_diff_vs_optax" in check:
                equals = f"optax {check['max_abs_diff_vs_optax']:.0e}"
            else:
                equals = "-"
            vs = f"{r['time_vs_optax']:.3f}" if r["time_vs_optax"] is not None else "-"
            cvs = f"{r['compile_vs_optax']:.3f}" if r["compile_vs_optax"] is not None else "-"
            per_param = r.get("bytes_moved_per_param")
            moved = "-" if per_param is None else f"{per_param:.0f}"
            moved_share = r.get("share_of_limit_moved")
            moved_share = "-" if moved_share is None else f"{moved_share:.0%}"
            lines.append(
                f"| {case['case']} | {name} | {fmt_ms(r['median_s'])} | "
                f"{fmt_ms(r['p10_s'])}-{fmt_ms(r['p90_s'])} | {r['share_of_limit']:.0%} | {vs} | "
                f"{r['first_call_s']:.2f} | {cvs} | {moved} | {moved_share} | {peak:.0f} | "
                f"{r['donated']} | {equals} |"
            )
    limits = [
        f"{case['case']} {case['limit']['gb_per_s']:.1f}"
        for case in data["cases"]
        if "limit" in case
    ]
    if limits:
        lines.append("")
        lines.append("The limit timed between each case's steps, GB/s: " + "; ".join(limits) + ".")
    lines.append("")
    lines.append("| target (fused-flat) | metric | target | measured | |")
    lines.append("|---|---|---|---|---|")
    for v in data["targets"]:
        value = "-" if v["value"] is None else f"{v['value']:.3f}"
        status = {True: "met", False: "**missed**", None: "not run"}[v["met"]]
        lines.append(f"| {v['case']} | {v['metric']} | {v['target']} | {value} | {status} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats; skip slow variants")
    parser.add_argument("--json", type=str, default=None, help="write the results here")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--check-steps", type=int, default=3)
    parser.add_argument("--cases", type=str, default="", help="comma-separated name prefixes")
    parser.add_argument("--impls", type=str, default="", help="e.g. optax,fused-flat")
    parser.add_argument(
        "--markdown", type=str, default=None, help="print the tables of a JSON written before"
    )
    args = parser.parse_args(argv)
    if args.markdown:
        with open(args.markdown) as f:
            print(markdown(json.load(f)))
        return 0
    args.repeats = args.repeats or (4 if args.quick else 10)
    args.impls = [s for s in args.impls.split(",") if s]
    prefixes = [s.strip() for s in args.cases.split(",") if s.strip()]
    cases = [c for c in CASES if not prefixes or any(c.name.startswith(p) for p in prefixes)]

    started = time.time()
    env = {
        "python": sys.version.split()[0],
        "jax": jax.__version__,
        "optax": getattr(optax, "__version__", None),
        "backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "load_average_start": load_average(),
        "command": " ".join(["python -m benchmarks.bench_optim", *(argv or sys.argv[1:])]),
    }
    print(
        f"jax {env['jax']}, optax {env['optax']}, {env['backend']}, {env['cpu_count']} cores, "
        f"load {env['load_average_start']:.2f}"
    )
    bandwidth = measure_bandwidth(args.quick)
    print(f"bandwidth (a*x+y) at the start: {bandwidth['gb_per_s']:.1f} GB/s", flush=True)

    results = [run_case(case, args) for case in cases]
    # For context only: the shares use each case's own limit, timed between its steps.
    bandwidth_end = measure_bandwidth(args.quick)
    limit = max(bandwidth["gb_per_s"], bandwidth_end["gb_per_s"])
    bandwidth = {
        "kernel": bandwidth["kernel"],
        "start": bandwidth,
        "end": bandwidth_end,
        "gb_per_s": limit,
    }
    print(
        f"\nbandwidth (a*x+y) at the end: {bandwidth_end['gb_per_s']:.1f} GB/s; "
        f"limit {limit:.1f} GB/s"
    )
    print_shares(results)
    verdicts = check_targets(results)
    print("\n== targets (fused-flat)")
    for v in verdicts:
        value = "-" if v["value"] is None else f"{v['value']:.3f}"
        status = {True: "met", False: "MISSED", None: "not run"}[v["met"]]
        print(f"   {v['case']:<34} {v['metric']:<17} {v['target']:<7} {value:>7}  {status}")
    env["load_average_end"] = load_average()
    env["wall_s"] = time.time() - started
    print(
        f"\nload {env['load_average_start']:.2f} -> {env['load_average_end']:.2f}, "
        f"{env['wall_s']:.0f} s"
    )
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(
                {"environment": env, "bandwidth": bandwidth, "cases": results, "targets": verdicts},
                f,
                indent=1,
            )
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
