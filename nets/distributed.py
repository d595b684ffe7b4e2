"""Several processes as one JAX program: `jax.distributed`, joined from what a launcher set.

    # script.py, started by: python -m nets.launch --processes 2 -- python script.py
    import nets
    nets.init_distributed()          # before any other jax call; nothing in a lone process
    result = nets.fit(..., sharding="data")   # the mesh spans every process's devices

`python -m nets.launch` (`nets/launch.py`) starts the processes on this machine and tells each
its rank through three environment variables; `init_distributed` reads them and calls
`jax.distributed.initialize`, with the coordinator on the launcher's address. On a cluster,
set the same variables from the scheduler, or call `jax.distributed.initialize()` yourself
(it detects SLURM, Open MPI and Cloud TPU pods on its own). Every process runs the same
script on the same data; `nets.fit` then builds global arrays from each process's copy.
"""

from __future__ import annotations

import os

import jax

COORDINATOR = "DESCENT_COORDINATOR"
NUM_PROCESSES = "DESCENT_NUM_PROCESSES"
PROCESS_ID = "DESCENT_PROCESS_ID"


def launched() -> bool:
    """Whether this process was started by a launcher (the three variables are set)."""
    return all(name in os.environ for name in (COORDINATOR, NUM_PROCESSES, PROCESS_ID))


def init_distributed(*, timeout_seconds: int = 120) -> bool:
    """Join the processes the launcher started; returns whether there are several.

    Does nothing (and returns False) in a process that was not launched, or when the
    launcher started one process. Call it before anything else touches jax: the devices of
    every process are known only after it. CPU processes exchange their collectives through
    gloo. Raises `ValueError` naming a variable that is malformed.
    """
    if not launched():
        return False
    address = os.environ[COORDINATOR]
    count, rank = (_whole(name) for name in (NUM_PROCESSES, PROCESS_ID))
    if count < 1 or not 0 <= rank < count:
        raise ValueError(f"{PROCESS_ID}={rank} must be in [0, {NUM_PROCESSES}={count})")
    if ":" not in address:
        raise ValueError(f"{COORDINATOR} must be host:port, got {address!r}")
    if count == 1:
        return False
    if jax.distributed.is_initialized():
        return True
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=address, num_processes=count,
                               process_id=rank, initialization_timeout=timeout_seconds)
    return True


def _whole(name: str) -> int:
    value = os.environ[name]
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {value!r}") from None
