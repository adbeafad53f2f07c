"""Compare classifiers on the same data: train (or reuse) each config, one table, one ROC figure.

  python scripts/compare.py --workdir=runs/compare_cats_dogs \
    --prerequisites=configs/compare_cats_dogs/pretrain_other8.py \
    --configs=configs/compare_cats_dogs/dense.py,configs/compare_cats_dogs/conv.py,...

Each config trains into <workdir>/<file name>; a finished run there is reused,
so re-running skips it. --config_overrides=train.epochs=1,optim.lr=0.01 sets
fields in every config that has them (repeat the flag, or separate by commas).
Writes comparison.csv, comparison.md, comparison.json and roc.png in --workdir,
and each run's report (JSON + figures) in its run directory.
"""
from absl import flags

import cnnlab  # noqa: F401  (sets XLA flags before jax starts)
from cnnlab import cli
from cnnlab.experiments import compare, runs

_CONFIGS = flags.DEFINE_list("configs", None, "Config files to compare, comma separated.")
_WORKDIR = flags.DEFINE_string("workdir", None, "Folder for the runs and the comparison table.")
_PREREQUISITES = flags.DEFINE_list(
    "prerequisites", [], "Config files trained first and left out of the table (e.g. pretraining).")
_OVERRIDES = flags.DEFINE_multi_string(
    "config_overrides", [], "field=value[,field=value...] applied to every config that has the field.")
_SPLIT = flags.DEFINE_string("split", "test", "Split the models are evaluated on.")
_POS_LABEL = flags.DEFINE_string("pos_label", None,
                                 "Binary tasks: the positive class, an index or a name (default 1).")
flags.mark_flags_as_required(["configs", "workdir"])


def main(argv):
    result = compare.compare_files(_CONFIGS.value, _WORKDIR.value,
                                   overrides=runs.parse_overrides(_OVERRIDES.value),
                                   prerequisite_paths=_PREREQUISITES.value, split=_SPLIT.value,
                                   pos_label=_POS_LABEL.value)
    for name, status in result["statuses"].items():
        print(f"{name}: {status}")
    print(compare.markdown_table(result["rows"]), end="")
    for path in result["paths"].values():
        print(f"wrote {path}")


if __name__ == "__main__":
    cli.main(main)
