"""Train an experiment: python scripts/train.py --config=configs/shapes_cnn.py --workdir=runs/shapes.

Override any config field: --config.optim.lr=0.01 --config.train.epochs=3.
Relaunching with the same --workdir resumes from its last checkpoint.
"""
from absl import flags
from ml_collections import config_flags

import cnnlab  # noqa: F401  (sets XLA flags before jax starts)
from cnnlab import cli
from cnnlab.train import distributed, loop

_CONFIG = config_flags.DEFINE_config_file("config", None, "Experiment config file.", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory (checkpoints, logs, figures).")
_DISTRIBUTED = flags.DEFINE_bool("distributed", False, "Call jax.distributed.initialize() first.")
_COORDINATOR = flags.DEFINE_string("coordinator_address", None, "host:port of process 0.")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "Number of processes.")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "This process's index.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    if _DISTRIBUTED.value:
        distributed.initialize(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value)
    result = loop.run(_CONFIG.value, _WORKDIR.value)
    print(loop.format_metrics({k: v for k, v in result.items() if "/" in k or k == "status"}))


if __name__ == "__main__":
    cli.main(main)
