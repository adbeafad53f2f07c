"""Evaluate a run's checkpoint: python scripts/evaluate.py --workdir=runs/shapes [--split=test]."""
from absl import flags

import cnnlab  # noqa: F401
from cnnlab import cli
from cnnlab.train import loop

_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory written by scripts/train.py.")
_SPLIT = flags.DEFINE_string("split", "test", "Dataset split to evaluate.")
_WHICH = flags.DEFINE_enum("which", "latest", ["latest", "best"], "Which checkpoint to restore.")
_STEP = flags.DEFINE_integer("step", None, "Restore the checkpoint of this step (default: --which).")
_EMA = flags.DEFINE_bool("ema", False, "Evaluate the EMA weights (runs with config.train.ema_decay > 0).")
flags.mark_flags_as_required(["workdir"])


def main(argv):
    metrics = loop.evaluate(_WORKDIR.value, split=_SPLIT.value, which=_WHICH.value, step=_STEP.value,
                            ema=_EMA.value)
    print(loop.format_metrics(metrics))


if __name__ == "__main__":
    cli.main(main)
