"""Sweep one config field, or ablate named variants, over seeds; report mean and spread.

  python scripts/sweep.py --config=configs/shapes_cnn.py --workdir=runs/lr_sweep \
    --sweep=optim.lr=0.1,0.01,0.001 --seeds=0,1,2 [--config.train.epochs=2]

Each (value, seed) trains into <workdir>/<field>=<value>/seed<seed> (finished
runs are reused); writes sweep_runs.csv, sweep.csv, sweep.md and sweep.json.

  python scripts/sweep.py --config=configs/cifar10_ablation.py --workdir=runs/ablation \
    --variant=baseline: --variant=ema:train.ema_decay=0.99 \
    --variant=mixup:data.augment.mixup_alpha=0.2 --seeds=0,1

Each variant (NAME:field=value[;field=value...]) trains into
<workdir>/<NAME>/seed<seed>; writes ablation_runs.csv, ablation.csv,
ablation.md, ablation.json and ablation.png.
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
_VARIANT = flags.DEFINE_multi_string(
    "variant", [], "NAME:field=value[;field=value...], repeated; e.g. baseline: and "
    "ema:train.ema_decay=0.99 (instead of --sweep).")
_METRIC = flags.DEFINE_string("metric", "test/accuracy", "Metric of the ablation figure.")
_SEEDS = flags.DEFINE_string("seeds", "0", "Seeds, comma separated, e.g. 0,1,2.")
flags.mark_flags_as_required(["config", "workdir"])
flags.register_multi_flags_validator(
    ["sweep", "variant"], lambda f: bool(f["sweep"]) != bool(f["variant"]),
    message="give either --sweep=field=v1,v2,... or --variant=NAME:overrides (repeated), not both")


def main(argv):
    seeds = sweep.parse_seeds(_SEEDS.value)
    if _VARIANT.value:
        variants = dict(sweep.parse_variant(v) for v in _VARIANT.value)
        if len(variants) != len(_VARIANT.value):
            raise ValueError("two --variant flags have the same NAME; give each a name of its own.")
        result = sweep.ablate(_CONFIG.value, _WORKDIR.value, variants, seeds, metric=_METRIC.value)
    else:
        field, values = sweep.parse_sweep(_SWEEP.value)
        result = sweep.sweep(_CONFIG.value, _WORKDIR.value, field, values, seeds)
    with open(result["paths"]["md"]) as f:
        print(f.read(), end="")
    for path in result["paths"].values():
        print(f"wrote {path}")


if __name__ == "__main__":
    cli.main(main)
