"""Sweep one config field over values and seeds; report mean and spread per value.

  python scripts/sweep.py --config=configs/shapes_cnn.py --workdir=runs/lr_sweep \
    --sweep=optim.lr=0.1,0.01,0.001 --seeds=0,1,2 [--config.train.epochs=2]

Each (value, seed) trains into <workdir>/<field>=<value>/seed<seed> (finished
runs are reused); writes sweep_runs.csv, sweep.csv, sweep.md and sweep.json.
"""
from absl import flags
from ml_collections import config_flags

import cnnlab  # noqa: F401  (sets XLA flags before jax starts)
from cnnlab import cli
from cnnlab.experiments import sweep

_CONFIG = config_flags.DEFINE_config_file("config", None, "Experiment config file.",
                                          lock_config=False, accept_new_attributes=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Folder for the runs and the sweep tables.")
_SWEEP = flags.DEFINE_string("sweep", None, "field=v1,v2,... e.g. optim.lr=0.1,0.01,0.001.")
_SEEDS = flags.DEFINE_string("seeds", "0", "Seeds, comma separated, e.g. 0,1,2.")
flags.mark_flags_as_required(["config", "workdir", "sweep"])


def main(argv):
    field, values = sweep.parse_sweep(_SWEEP.value)
    result = sweep.sweep(_CONFIG.value, _WORKDIR.value, field, values, sweep.parse_seeds(_SEEDS.value))
    with open(result["paths"]["md"]) as f:
        print(f.read(), end="")
    for path in result["paths"].values():
        print(f"wrote {path}")


if __name__ == "__main__":
    cli.main(main)
