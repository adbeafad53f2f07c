"""Multi-host start-up: `jax.distributed.initialize` when asked."""
from typing import Optional

import jax


def initialize(coordinator_address: Optional[str] = None, num_processes: Optional[int] = None,
               process_id: Optional[int] = None) -> None:
    """Joins a multi-process job; with no arguments jax reads the cluster's environment
    (SLURM, Kubernetes/GKE, Cloud TPU). Call before any other jax call."""
    kwargs = {k: v for k, v in dict(coordinator_address=coordinator_address,
                                     num_processes=num_processes,
                                     process_id=process_id).items() if v is not None}
    jax.distributed.initialize(**kwargs)
