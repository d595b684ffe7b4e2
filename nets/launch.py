"""`python -m nets.launch --processes N -- COMMAND ...`: N local processes joined as one.

    python -m nets.launch --processes 2 -- python train.py --epochs 5

Each process runs COMMAND with `DESCENT_COORDINATOR` (127.0.0.1 and a free port),
`DESCENT_NUM_PROCESSES` and `DESCENT_PROCESS_ID` set; the script calls
`nets.init_distributed()` to join them (see `nets/distributed.py`). `--cpu-devices K` gives
each process K simulated CPU devices (`XLA_FLAGS=--xla_force_host_platform_device_count=K`).
Every output line is prefixed with its process's rank. When one process fails, the others are
stopped and the launcher exits with the failed one's code; Ctrl-C stops them all.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Sequence

from nets.distributed import COORDINATOR, NUM_PROCESSES, PROCESS_ID


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m nets.launch", description=__doc__.split("\n")[0])
    p.add_argument("--processes", type=int, required=True, help="how many processes")
    p.add_argument("--port", type=int, default=None, help="the coordinator's port (default: free)")
    p.add_argument("--cpu-devices", type=int, default=None,
                   help="simulated CPU devices per process")
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command to run")
    return p


def _relay(stream, rank: int, out) -> None:
    for line in iter(stream.readline, ""):
        out.write(f"[{rank}] {line}")
        out.flush()


def launch(command: Sequence[str], processes: int, *, port: int | None = None,
           cpu_devices: int | None = None) -> int:
    """Run `command` in `processes` processes joined by `jax.distributed`; the exit code."""
    port = free_port() if port is None else port
    env = {**os.environ, COORDINATOR: f"127.0.0.1:{port}", NUM_PROCESSES: str(processes)}
    if cpu_devices is not None:
        flag = f"--xla_force_host_platform_device_count={cpu_devices}"
        env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} {flag}".strip()
    children, relays = [], []
    for rank in range(processes):
        child = subprocess.Popen(list(command), env={**env, PROCESS_ID: str(rank)},
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        children.append(child)
        relay = threading.Thread(target=_relay, args=(child.stdout, rank, sys.stdout))
        relay.start()
        relays.append(relay)
    code = 0
    try:
        pending = list(children)
        while pending:
            for child in list(pending):
                try:
                    result = child.wait(timeout=0.2)
                except subprocess.TimeoutExpired:
                    continue
                pending.remove(child)
                if result != 0 and code == 0:
                    code = result
                    for other in pending:  # a collective would wait for the dead one forever
                        other.send_signal(signal.SIGTERM)
    except KeyboardInterrupt:
        for child in children:
            child.send_signal(signal.SIGTERM)
        for child in children:
            child.wait()
        code = 130
    for relay in relays:
        relay.join()
    return code


def main(argv: Sequence[str] | None = None) -> int:
    p = _parser()
    args = p.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        p.error("give the command to run after --, e.g. -- python train.py")
    if args.processes < 1:
        p.error(f"--processes must be a positive integer, got {args.processes}")
    if args.cpu_devices is not None and args.cpu_devices < 1:
        p.error(f"--cpu-devices must be a positive integer, got {args.cpu_devices}")
    if args.port is not None and not 0 < args.port < 65536:
        p.error(f"--port must be in [1, 65535], got {args.port}")
    return launch(command, args.processes, port=args.port, cpu_devices=args.cpu_devices)


if __name__ == "__main__":
    sys.exit(main())
