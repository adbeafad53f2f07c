"""Test accuracy and AUC of dense heads on cached bottleneck features vs images per class.

  python scripts/extract_features.py --model=efficientnet_lite0 --weights=imagenet --split=train ... --out=train.npz
  python scripts/extract_features.py ... --split=test --out=test.npz
  python scripts/bottleneck_curve.py --train=train.npz --test=test.npz --per_class=200,500,1000 --seeds=0,1,2 \\
      --out=runs/bottleneck/curve

writes <out>.json (one row per size and seed, and the summary) and <out>.md (the summary table).
"""
import json
import os

from absl import flags

import cnnlab  # noqa: F401  (sets XLA flags before jax starts)
from cnnlab import cli

_TRAIN = flags.DEFINE_string("train", None, "Bottleneck .npz of the training split.")
_TEST = flags.DEFINE_string("test", None, "Bottleneck .npz of the test split.")
_SIZES = flags.DEFINE_list("per_class", ["200", "500", "1000"], "Training images per class.")
_SEEDS = flags.DEFINE_list("seeds", ["0"], "Seeds of the subset draw and head initialisation.")
_EPOCHS = flags.DEFINE_integer("epochs", 30, "Head training epochs.", lower_bound=1)
_POS = flags.DEFINE_integer("pos_label", 1, "Positive class index for the AUC (binary tasks).")
_OUT = flags.DEFINE_string("out", None, "Output path stem (.json and .md are added).")
flags.mark_flags_as_required(["train", "test", "out"])


def main(argv):
    del argv
    from cnnlab.experiments import bottleneck
    from cnnlab.experiments.compare import markdown_table
    from cnnlab.pretrained.features import load_bottleneck

    try:
        sizes, seeds = [int(s) for s in _SIZES.value], [int(s) for s in _SEEDS.value]
    except ValueError as e:
        raise ValueError(f"--per_class and --seeds take comma-separated integers ({e}).") from e
    rows = bottleneck.bottleneck_curve(load_bottleneck(_TRAIN.value), load_bottleneck(_TEST.value), sizes,
                                       seeds=seeds, pos_label=_POS.value, epochs=_EPOCHS.value)
    summary = bottleneck.summarise(rows)
    os.makedirs(os.path.dirname(os.path.abspath(_OUT.value)), exist_ok=True)
    with open(_OUT.value + ".json", "w", encoding="utf-8") as f:
        json.dump({"rows": rows, "summary": summary}, f, indent=1)
    columns = [c for c in ("per_class", "seeds", "accuracy", "accuracy_min", "accuracy_max", "auc", "auc_min",
                           "auc_max") if c in summary[0]]
    table = markdown_table(summary, columns)
    with open(_OUT.value + ".md", "w", encoding="utf-8") as f:
        f.write(table + "\n")
    print(table)
    print(f"wrote {_OUT.value}.json and {_OUT.value}.md")


if __name__ == "__main__":
    cli.main(main)
