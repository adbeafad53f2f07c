"""Semantic segmentation: train, evaluate, or draw predictions of an FCN run.

    python scripts/segment.py --mode=train --config=configs/shapes_fcn8s.py --workdir=runs/shapes_fcn8s
    python scripts/segment.py --mode=evaluate --workdir=runs/shapes_fcn8s --split=test
    python scripts/segment.py --mode=predict --workdir=runs/shapes_fcn8s --split=test --num_images=8

train runs ``cnnlab.train.run`` and then draws ``--num_images`` overlays of
the test split; evaluate prints pixel accuracy, mean IoU and per-class IoU
of a checkpoint; predict writes image | truth | prediction PNGs into
``<workdir>/overlays`` (or ``--out_dir``).
"""
from absl import flags
from ml_collections import config_flags

import cnnlab  # noqa: F401  (sets XLA flags before jax starts)
from cnnlab import cli, data
from cnnlab.experiments.report import format_segmentation_report
from cnnlab.train import loop
from cnnlab.viz.segmentation import write_overlays

_MODE = flags.DEFINE_enum("mode", "train", ["train", "evaluate", "predict"], "What to do.")
_CONFIG = config_flags.DEFINE_config_file("config", None, "Experiment config file (train).",
                                          lock_config=False, accept_new_attributes=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory.")
_SPLIT = flags.DEFINE_string("split", None, "Split to evaluate or draw (default: the config's test split).")
_WHICH = flags.DEFINE_enum("which", "best", ["latest", "best"], "Checkpoint to restore.")
_NUM_IMAGES = flags.DEFINE_integer("num_images", 8, "Overlays to draw.")
_OUT_DIR = flags.DEFINE_string("out_dir", None, "Overlay folder (default <workdir>/overlays).")
flags.mark_flags_as_required(["workdir"])


def _split(config):
    return _SPLIT.value or config.data.get("test_split", "") or config.data.get("eval_split", "validation")


def draw(workdir):
    config, model, task, state, _ = loop.restore_for_inference(workdir, _WHICH.value)
    split = _split(config)
    dataset = data.build(config.data, split, int(config.train.get("eval_batch_size", 0) or config.train.batch_size),
                         train=False, seed=int(config.train.seed))
    out_dir = _OUT_DIR.value or f"{workdir}/overlays"
    paths = write_overlays(model, state.variables(), dataset.epoch(0), out_dir,
                           dataset.info.mask_class_names or None, _NUM_IMAGES.value, prefix=split)
    print(f"wrote {len(paths)} overlays to {out_dir}")


def main(argv):
    workdir = _WORKDIR.value
    if _MODE.value == "train":
        if _CONFIG.value is None:
            raise ValueError("--mode=train needs --config=configs/<name>.py.")
        result = loop.run(_CONFIG.value, workdir)
        print(loop.format_metrics({k: v for k, v in result.items() if "/" in k or k == "status"}))
        draw(workdir)
    elif _MODE.value == "evaluate":
        config = loop.load_config(workdir)
        split = _split(config)
        metrics = loop.evaluate(workdir, split=split, which=_WHICH.value)
        names = data.build(config.data, split, 1, train=False, seed=0).info.mask_class_names
        print(format_segmentation_report(metrics, names))
    else:
        draw(workdir)


if __name__ == "__main__":
    cli.main(main)
