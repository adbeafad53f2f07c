"""Multi-host start-up and lost-peer detection around `jax.distributed`.

`initialize` joins the job: with explicit arguments (a local launch), or with
none, in which case jax reads the cluster's environment (SLURM, Open MPI,
Kubernetes/GKE, Cloud TPU) and `JAX_COORDINATOR_ADDRESS`.

A process that dies takes its sockets with it: the next cross-process
collective of every other process fails at once (gloo on CPU: "Connection
reset by peer"). The coordination service only declares it dead after
`heartbeat_timeout` seconds, and then aborts every process from C++. To stop
sooner and say which process was lost, every process bumps a counter in the
coordination service's key-value store twice a second (`Liveness`); when a
collective fails, `lost_processes` reads the counters twice and names the
ones that stood still. If the store itself is gone, process 0 (which hosts
it) is the lost one.
"""
import threading
import time
from typing import Optional

import jax

_KEY = "cnnlab/alive"
BEAT_S = 0.5  # how often a process bumps its counter
HEARTBEAT_TIMEOUT_S = 100  # jax's default: the service's verdict on a silent process


class PeerLost(RuntimeError):
    """Another process of a multi-process run died or stopped answering."""


def initialize(coordinator_address: Optional[str] = None, num_processes: Optional[int] = None,
               process_id: Optional[int] = None,
               heartbeat_timeout_s: int = HEARTBEAT_TIMEOUT_S) -> None:
    """Joins a multi-process job; arguments left None come from the environment.

    Call before any other jax call. `heartbeat_timeout_s` bounds how long a
    process that stopped answering without dying (a hung host) can stall
    the others: the coordination service then stops them all.
    """
    kwargs = {k: v for k, v in dict(coordinator_address=coordinator_address,
                                     num_processes=num_processes,
                                     process_id=process_id).items() if v is not None}
    try:
        jax.distributed.initialize(heartbeat_timeout_seconds=int(heartbeat_timeout_s), **kwargs)
    except ValueError as e:
        raise ValueError(
            f"--distributed could not find its cluster ({e}). On SLURM, Open MPI or a TPU pod "
            "jax reads the job from the environment; elsewhere pass --coordinator_address=HOST:PORT "
            "(process 0's host), --num_processes=N and --process_id=I to every process.") from e


def _client():
    from jax._src import distributed as jax_distributed  # the running client, if any
    return jax_distributed.global_state.client


class Liveness:
    """A daemon thread that bumps this process's counter in the key-value store."""

    def __init__(self, interval_s: float = BEAT_S):
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = None

    def start(self) -> "Liveness":
        client = _client()
        if client is None or jax.process_count() == 1:
            return self
        key = f"{_KEY}/{jax.process_index()}"

        def beat():
            count = 0
            while not self._stop.is_set():
                try:
                    client.key_value_set(key, str(count), allow_overwrite=True)
                except Exception:  # the store is gone; lost_processes will say so
                    return
                count += 1
                self._stop.wait(self.interval_s)

        self._thread = threading.Thread(target=beat, name="cnnlab-liveness", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()


def _counters(client) -> dict:
    return {int(k.rsplit("/", 1)[1]): v for k, v in client.key_value_dir_get(_KEY)}


def lost_processes(wait_s: float = 4 * BEAT_S) -> list:
    """Indices of the processes whose counter did not move in `wait_s` seconds."""
    client = _client()
    if client is None:
        return []
    try:
        before = _counters(client)
        time.sleep(wait_s)
        after = _counters(client)
    except Exception:  # the key-value store lives in process 0
        return [0]
    me = jax.process_index()
    return [p for p in range(jax.process_count())
            if p != me and (p not in after or after[p] == before.get(p))]


def is_peer_failure(error: BaseException) -> bool:
    """Whether `error` is a cross-process collective or coordination failure."""
    if jax.process_count() == 1:
        return False
    markers = ("Gloo", "gloo", "Connection reset", "Connection closed", "Socket closed",
               "UNAVAILABLE", "heartbeat", "DEADLINE_EXCEEDED", "barrier")
    seen = set()
    while error is not None and id(error) not in seen:  # orbax wraps the runtime's error
        seen.add(id(error))
        if isinstance(error, (jax.errors.JaxRuntimeError, TimeoutError)) and any(
                m in str(error) for m in markers):
            return True
        error = error.__cause__ or error.__context__
    return False


def peer_lost_error(error: BaseException, workdir: str) -> PeerLost:
    """The one message for a lost peer: who, what failed, and how to go on."""
    lost = lost_processes()
    n = jax.process_count()
    who = (", ".join(f"process {p}" for p in lost) if lost else "another process")
    what = " ".join(str(error).split())[:200]
    return PeerLost(
        f"{who} of this {n}-process run stopped (seen by process {jax.process_index()}: {what}). "
        f"This process stops too. Relaunch all {n} processes with the same command to resume "
        f"from the last complete checkpoint in {workdir}/checkpoints.")
