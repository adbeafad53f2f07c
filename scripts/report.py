"""Evaluate a finished classification run: python scripts/report.py --workdir=runs/shapes.

Writes report_<split>.json (accuracy, per-class and macro precision/recall/F1,
confusion matrix, ROC AUC, average precision, log loss) and
confusion_/roc_/pr_/gallery_<split>.png into the run directory.
Binary runs score the positive class --pos_label (an index or a class name).
"""
from absl import flags

import cnnlab  # noqa: F401  (sets XLA flags before jax starts)
from cnnlab import cli
from cnnlab.experiments import report

_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory of a finished training run.")
_SPLIT = flags.DEFINE_string("split", "test", "Split to evaluate: train, validation or test.")
_WHICH = flags.DEFINE_enum("which", "latest", ["latest", "best"], "Checkpoint to evaluate.")
_POS_LABEL = flags.DEFINE_string("pos_label", None,
                                 "Binary tasks: the positive class, an index or a name (default 1).")
_GALLERY = flags.DEFINE_integer("gallery_size", 25, "Images in the prediction gallery.")
flags.mark_flags_as_required(["workdir"])


def main(argv):
    numbers = report.write_report(_WORKDIR.value, split=_SPLIT.value, which=_WHICH.value,
                                  pos_label=_POS_LABEL.value, gallery_size=_GALLERY.value)
    auc = "n/a" if numbers["auc"] is None else f"{numbers['auc']:.4f}"
    print(f"{_SPLIT.value} ({numbers['num_examples']} examples, {numbers['averaging']}): "
          f"accuracy={numbers['accuracy']:.4f} precision={numbers['precision']:.4f} "
          f"recall={numbers['recall']:.4f} f1={numbers['f1']:.4f} auc={auc} "
          f"log_loss={numbers['log_loss']:.4f}")
    for path in numbers["paths"].values():
        print(f"wrote {path}")


if __name__ == "__main__":
    cli.main(main)
