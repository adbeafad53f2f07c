"""Train an experiment: python scripts/train.py --config=configs/shapes_cnn.py --workdir=runs/shapes.

Override any config field: --config.optim.lr=0.01 --config.train.epochs=3.
Relaunching with the same --workdir resumes from its last checkpoint.

Several processes (hosts): add --distributed to every process's command. On
SLURM (srun), Open MPI or a TPU pod jax finds the job in the environment;
elsewhere give --coordinator_address=HOST:PORT (process 0's host, a free
port), --num_processes=N and --process_id=I, which also override what the
environment says. See the README's "Several processes or hosts".
"""
from absl import flags
from ml_collections import config_flags

import cnnlab  # noqa: F401  (sets XLA flags before jax starts)
from cnnlab import cli
from cnnlab.train import distributed, loop

_CONFIG = config_flags.DEFINE_config_file("config", None, "Experiment config file.",
                                          lock_config=False, accept_new_attributes=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory (checkpoints, logs, figures).")
_DISTRIBUTED = flags.DEFINE_bool("distributed", False, "Join a multi-process job (jax.distributed.initialize) first.")
_COORDINATOR = flags.DEFINE_string("coordinator_address", None, "host:port of process 0 (default: from the cluster's environment).")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "Number of processes (default: from the environment).")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "This process's index (default: from the environment).")
_HEARTBEAT = flags.DEFINE_integer(
    "heartbeat_timeout", distributed.HEARTBEAT_TIMEOUT_S,
    "Seconds without a heartbeat after which a hung process is declared lost and the job stops.")
_PEER_TIMEOUT = flags.DEFINE_float(
    "peer_timeout", distributed.STALL_S,
    "Seconds a peer process may show no sign of life before this one stops, naming it.")
_SHOW = flags.DEFINE_bool("show_config", False,
                          "Print every config field with its value and comment, then exit.")
flags.mark_flags_as_required(["config"])
flags.register_multi_flags_validator(
    ["workdir", "show_config"], lambda f: bool(f["workdir"] or f["show_config"]),
    message="flag --workdir must have a value other than None (the run directory)")


def main(argv):
    if _SHOW.value:
        from cnnlab.train import defaults
        print(defaults.describe(defaults.complete(_CONFIG.value)))
        return
    if _DISTRIBUTED.value:
        distributed.initialize(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value,
                               heartbeat_timeout_s=_HEARTBEAT.value)
    elif any(f.present for f in (_COORDINATOR, _NUM_PROCESSES, _PROCESS_ID)):
        raise ValueError("--coordinator_address/--num_processes/--process_id need --distributed.")
    result = loop.run(_CONFIG.value, _WORKDIR.value, peer_timeout_s=_PEER_TIMEOUT.value)
    import jax
    if jax.process_index() == 0:
        print(loop.format_metrics({k: v for k, v in result.items() if "/" in k or k == "status"}))


if __name__ == "__main__":
    cli.main(main)
