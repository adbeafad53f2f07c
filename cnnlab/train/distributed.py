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
import os
import sys
import threading
import time
from typing import Optional

import jax
import numpy as np

_KEY = "cnnlab/alive"
BEAT_S = 0.5  # how often a process bumps its counter
STALL_S = 10.0  # a counter standing still this long means its process is lost
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


def gather(value) -> list:
    """`value` (a number) of every process, in process order; a collective every process
    must call. One process: `[value]`, no communication."""
    if jax.process_count() == 1:
        return [value]
    from jax.experimental import multihost_utils
    return np.asarray(multihost_utils.process_allgather(np.asarray(value))).ravel().tolist()


def _client():
    from jax._src import distributed as jax_distributed  # the running client, if any
    return jax_distributed.global_state.client


class Liveness:
    """A daemon thread: bumps this process's counter in the key-value store, and watches the others'.

    A peer whose counter has not moved for `stall_s` seconds is lost: the
    thread calls `on_lost([indices])`, which must end the process, because
    the main thread may be blocked in a collective that will never complete
    (a new communicator's rendezvous waits for the dead peer; no socket of it
    was open to break). A process that ends its run marks itself done and
    is not watched after that.
    """

    def __init__(self, on_lost=None, interval_s: float = BEAT_S, stall_s: float = STALL_S):
        self.on_lost = on_lost
        self.interval_s = interval_s
        self.stall_s = stall_s
        self._stop = threading.Event()
        self._thread = None
        self._client = None

    def start(self) -> "Liveness":
        self._client = client = _client()
        if client is None or jax.process_count() == 1:
            return self
        me = jax.process_index()
        key = f"{_KEY}/{me}"

        def beat():
            count, last_value, last_change = 0, {}, {}
            while not self._stop.is_set():
                try:
                    client.key_value_set(key, str(count), allow_overwrite=True)
                    counters = _counters(client) if self.on_lost else {}
                except Exception:  # the store is gone: process 0 (which hosts it) died
                    if not self._stop.is_set() and self.on_lost:
                        self.on_lost([0])
                    return
                count += 1
                now = time.monotonic()
                for p, value in counters.items():
                    if value != last_value.get(p):
                        last_value[p], last_change[p] = value, now
                lost = [p for p, t in last_change.items()
                        if p != me and last_value[p] != "done" and now - t > self.stall_s]
                if lost and not self._stop.is_set():
                    self.on_lost(sorted(lost))
                    return
                self._stop.wait(self.interval_s)

        self._thread = threading.Thread(target=beat, name="cnnlab-liveness", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stops beating and watching, and tells the peers this process is done."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            try:
                self._client.key_value_set(f"{_KEY}/{jax.process_index()}", "done",
                                           allow_overwrite=True)
            except Exception:
                pass


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
            if p != me and after.get(p) != "done" and (p not in after or after[p] == before.get(p))]


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


def _message(lost, seen: str, workdir: str) -> str:
    n = jax.process_count()
    who = ", ".join(f"process {p}" for p in lost) if lost else "another process"
    return (f"{who} of this {n}-process run stopped ({seen}). This process stops too. Relaunch "
            f"all {n} processes with the same command to resume from the last complete "
            f"checkpoint in {workdir}/checkpoints.")


def peer_lost_error(error: BaseException, workdir: str) -> PeerLost:
    """The one message for a lost peer seen as a failed collective: who, and how to go on."""
    what = " ".join(str(error).split())[:200]
    return PeerLost(_message(lost_processes(), f"seen by process {jax.process_index()}: {what}",
                             workdir))


def exit_on_lost(workdir: str, stall_s: float = STALL_S):
    """`Liveness.on_lost` for runs: prints the message and ends the process at once (exit 1)."""
    def on_lost(lost):
        print("error: " + _message(lost, f"no sign of life for {stall_s:.0f} s, seen by process "
                                         f"{jax.process_index()}", workdir),
              file=sys.stderr, flush=True)
        sys.stdout.flush()
        os._exit(1)

    return on_lost
