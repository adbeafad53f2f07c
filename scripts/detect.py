"""Train, evaluate or draw predictions of a detector (or localizer).

  python scripts/detect.py --mode=train --config=configs/shapes_detect.py --workdir=runs/det
  python scripts/detect.py --mode=evaluate --workdir=runs/det --split=test
  python scripts/detect.py --mode=predict --workdir=runs/det --split=test --num_images=8
  python scripts/detect.py --mode=predict --workdir=runs/det --images='photos/*.jpg'

Predictions are PNGs with boxes, class names and scores drawn on the image
(ground truth dashed when the images come from a dataset split), written to
--out (default <workdir>/predictions).
"""
import glob
import os

import numpy as np
from absl import flags
from ml_collections import config_flags

import cnnlab  # noqa: F401  (sets XLA flags before jax starts)
from cnnlab import cli
from cnnlab import data as data_lib
from cnnlab.data.decode import read_image
from cnnlab.tasks.detection import predict
from cnnlab.train import loop
from cnnlab.viz.detection import draw_predictions

_MODE = flags.DEFINE_enum("mode", "predict", ["train", "evaluate", "predict"], "What to do.")
_CONFIG = config_flags.DEFINE_config_file("config", None, "Experiment config file (train).",
                                          lock_config=False, accept_new_attributes=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory.")
_SPLIT = flags.DEFINE_string("split", "test", "Dataset split to evaluate or draw.")
_WHICH = flags.DEFINE_enum("which", "latest", ["latest", "best"], "Which checkpoint to restore.")
_IMAGES = flags.DEFINE_string("images", None, "Glob of image files to predict on (instead of --split).")
_NUM_IMAGES = flags.DEFINE_integer("num_images", 8, "How many split images to draw.")
_SCORE = flags.DEFINE_float("score_threshold", 0.3, "Hide boxes scoring below this.")
_OUT = flags.DEFINE_string("out", None, "Folder for the PNGs (default <workdir>/predictions).")
flags.mark_flags_as_required(["workdir"])


def _predict():
    config, model, task, state, data = loop.restore_for_inference(_WORKDIR.value, _WHICH.value)
    out_dir = _OUT.value or os.path.join(_WORKDIR.value, "predictions")
    names = data.info.class_names
    if _IMAGES.value:
        paths = sorted(glob.glob(os.path.expanduser(_IMAGES.value)))
        if not paths:
            raise FileNotFoundError(f"--images={_IMAGES.value!r} matches no files.")
        size = tuple(data.info.image_shape[:2])
        mode = "L" if data.info.image_shape[-1] == 1 else "RGB"
        images = np.stack([read_image(p, mode, size) for p in paths]).astype(np.float32) / 255.0
        preds = predict(model, state.variables(), images, task)
        stems = [os.path.splitext(os.path.basename(p))[0] for p in paths]
        written = draw_predictions(images, preds, out_dir, names, score_threshold=_SCORE.value,
                                   names=stems)
    else:
        split_data = data_lib.build(config.data, _SPLIT.value, _NUM_IMAGES.value, train=False,
                                    seed=int(config.train.seed))
        batch = next(split_data.epoch(0))
        keep = batch["valid"]
        images = batch["image"][keep]
        preds = predict(model, state.variables(), images, task)
        written = draw_predictions(images, preds, out_dir, names, score_threshold=_SCORE.value,
                                   true_boxes=batch["boxes"][keep], true_labels=batch["box_labels"][keep],
                                   names=[f"{_SPLIT.value}_{i:03d}" for i in range(len(images))])
    print(f"wrote {len(written)} prediction images to {out_dir}")


def main(argv):
    if _MODE.value == "train":
        if _CONFIG.value is None:
            raise ValueError("--mode=train needs --config=configs/<name>.py.")
        result = loop.run(_CONFIG.value, _WORKDIR.value)
        print(loop.format_metrics({k: v for k, v in result.items() if "/" in k or k == "status"}))
    elif _MODE.value == "evaluate":
        print(loop.format_metrics(loop.evaluate(_WORKDIR.value, split=_SPLIT.value, which=_WHICH.value)))
    else:
        _predict()


if __name__ == "__main__":
    cli.main(main)
