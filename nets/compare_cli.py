"""The command line of the main job (`python -m nets.compare`): its options, checked before
anything compiles, and the JSON it writes."""

from __future__ import annotations

import argparse
import json
import math
import os
from collections.abc import Sequence
from typing import Any

import jax

from nets import data as data_lib
from nets.comparison.contenders import available_contenders
from nets.data import num_batches

DEFAULT_TARGETS = {"digits": 0.95, "breast_cancer": 0.95, "spirals": 0.95, "regression": None}
"""The validation metric to reach per dataset: an accuracy (no default for regression)."""


def _seeds(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a count or comma-separated integers, got "
                                         f"{text!r}") from None
    seeds = list(range(values[0])) if len(values) == 1 and "," not in text else values
    if len(seeds) < 2 or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise argparse.ArgumentTypeError(
            f"needs at least two distinct non-negative seeds (a spread), got {text!r}")
    return seeds


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def _lr_range(text: str) -> tuple[float, float] | float:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a factor F > 1 or LOW,HIGH, got {text!r}"
                                         ) from None
    if len(values) == 1 and math.isfinite(values[0]) and values[0] > 1:
        return values[0]
    if len(values) == 2 and all(math.isfinite(v) for v in values) and 0 < values[0] < values[1]:
        return values[0], values[1]
    raise argparse.ArgumentTypeError(f"must be a factor F > 1 or 0 < LOW < HIGH, got {text!r}")


def _writable_dir(path: str) -> bool:
    """`path` is, or can be created as, a directory we may write into."""
    path = os.path.abspath(path)
    while not os.path.exists(path):
        path = os.path.dirname(path)
    return os.path.isdir(path) and os.access(path, os.W_OK)


def parser(optimizers: Sequence[str]) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m nets.compare",
        description="Compare optimizers fairly: a learning-rate grid per optimizer tuned on "
                    "validation data, several seeds, 95%% intervals, ties, time to a target.",
    )
    p.add_argument("--dataset", default="digits", choices=sorted(data_lib.DATASETS))
    p.add_argument("--optimizers", default=",".join(optimizers),
                   help="comma-separated names (default: the lectures' seven); see --list")
    p.add_argument("--list", action="store_true", help="list the optimizers and exit")
    p.add_argument("--epochs", type=_positive_int, default=20)
    p.add_argument("--batch-size", type=_positive_int, default=32)
    p.add_argument("--seeds", type=_seeds, default=[0, 1, 2],
                   help="N (seeds 0..N-1) or a comma-separated list, at least two (default: 3)")
    p.add_argument("--grid", type=_positive_int, default=5,
                   help="learning rates per optimizer, log-spaced (default: 5)")
    p.add_argument("--lr-range", type=_lr_range, default=10.0,
                   help="a factor F: each optimizer's grid spans its customary rate / F to "
                        "x F (default: 10); or LOW,HIGH: the same range for all")
    p.add_argument("--target", type=float, default=None,
                   help="validation accuracy to reach (default: 0.95; for regression a loss)")
    p.add_argument("--split-seed", type=int, default=0,
                   help="seed of the train/validation/test split, the same for every run")
    p.add_argument("--hidden", default="256,256",
                   help="hidden layer widths, comma-separated (default: 256,256)")
    p.add_argument("--activation", default="relu", choices=["relu", "tanh", "sigmoid", "gelu"])
    p.add_argument("--out", default="compare-out", help="directory for the PNG plots")
    p.add_argument("--no-plots", action="store_true", help="write no plots")
    p.add_argument("--json", metavar="PATH", help="write the report as JSON to PATH")
    p.add_argument("--no-landscapes", action="store_true",
                   help="skip the runs on the landscapes (lecture_quadratic, rosenbrock)")
    p.add_argument("--jobs", type=_positive_int, default=None,
                   help="threads compiling the programs (default: one per CPU)")
    p.add_argument("--sharding", choices=["data"], default=None,
                   help="split every batch over all local devices (data parallel)")
    return p


def parse_arguments(argv: Sequence[str] | None, *, optimizers: Sequence[str],
                    landscapes: Sequence[str]) -> argparse.Namespace:
    """The checked options: every mistake is a usage error (exit code 2) before compiling."""
    p = parser(optimizers)
    args = p.parse_args(argv)
    known = available_contenders()
    if args.list:
        for name, contender in known.items():
            fixed = "".join(f", {k}={v}" for k, v in contender.fixed.items())
            print(f"{name:<22} learning_rate={contender.learning_rate:g}{fixed}")
        return args
    args.optimizers = [n.strip() for n in args.optimizers.split(",") if n.strip()]
    unknown = [n for n in args.optimizers if n not in known]
    if unknown or not args.optimizers:
        p.error(f"unknown optimizers {unknown}; choose from {','.join(known)}")
    if len(set(args.optimizers)) != len(args.optimizers):
        p.error(f"--optimizers lists a name twice: {args.optimizers}")
    try:
        args.hidden = tuple(int(h) for h in args.hidden.split(",") if h.strip())
    except ValueError:
        p.error(f"--hidden must be comma-separated integers, got {args.hidden!r}")
    if any(h < 1 for h in args.hidden):
        p.error(f"--hidden widths must be positive, got {args.hidden}")
    if args.grid < 2:
        p.error(f"--grid must be at least 2 learning rates, got {args.grid}")
    args.lr_span, args.lr_range = (args.lr_range, None) if isinstance(args.lr_range, float) \
        else (10.0, args.lr_range)
    data = data_lib.load(args.dataset, seed=args.split_seed)
    try:
        num_batches(len(data.train), args.batch_size)
    except ValueError as error:
        p.error(f"--batch-size: {error}")
    if args.sharding and args.batch_size % jax.device_count():
        p.error(f"--sharding data splits each batch over the {jax.device_count()} devices: "
                f"--batch-size {args.batch_size} must be a multiple of {jax.device_count()}")
    if args.target is not None:
        low_ok = args.target > 0
        if not (math.isfinite(args.target) and low_ok and (
                data.task == "regression" or args.target <= 1)):
            p.error(f"--target must be an accuracy in (0, 1] (a loss > 0 for regression), got "
                    f"{args.target}")
    if args.no_plots:
        args.out = None
    elif not _writable_dir(args.out) or (os.path.exists(args.out) and
                                         not os.path.isdir(args.out)):
        p.error(f"--out {args.out!r} is not a directory we can write into")
    parent = os.path.dirname(os.path.abspath(args.json)) if args.json else None
    if args.json and (os.path.isdir(args.json) or not os.path.isdir(parent) or
                      not os.access(parent, os.W_OK)):
        p.error(f"--json {args.json!r} cannot be written (its directory must exist)")
    args.features, args.outputs = data.num_features, data.num_outputs
    return args


def _json_safe(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def write_json(report: dict[str, Any], path: str) -> None:
    """`report` as strict JSON (NaN and infinities as null), written to `path`."""
    with open(path, "w") as f:
        json.dump(_json_safe(report), f, indent=2, allow_nan=False)
