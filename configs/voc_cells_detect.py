"""The detector on a real PASCAL VOC-format set: microscope cell bodies (one class).

``../shared/data/voc_det_cells.tar.gz`` (356 images of 300x300, 641 boxes of
12-29 pixels) read with ``data.name='voc_folder'``; images resized to
160x160, so cells span 6-15 pixels. Anchors on the 40x40 ``stage2_out`` and
20x20 ``stage3_out`` maps and the 10x10 last map, merged FPN-style. Flips in
both directions and scale/crop augmentation (microscopy has no up or down).

Splits as shipped: train 302, val 27, test 256 - but the lists overlap
(test holds 202 train and all 27 val images); ``test-train-val`` is the 27
images in no other list. Evaluate it with
``scripts/detect.py --mode=evaluate --split=test-train-val``.
"""
import os

import ml_collections

from cnnlab.train.defaults import base_config

ARCHIVE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data",
                       "voc_det_cells.tar.gz")


def get_config():
    c = base_config()
    c.data.name = "voc_folder"
    c.data.archive = os.path.normpath(ARCHIVE)
    c.data.cache_dir = "~/.cache/cnnlab/data"
    c.data.root = ""
    c.data.image_size = (160, 160)
    c.data.max_boxes = 16
    c.data.train_split = "train"
    c.data.eval_split = "val"
    c.data.test_split = "test"
    c.data.augment = {"horizontal_flip": True, "vertical_flip": True, "scale_range": (0.8, 1.2),
                      "crop_probability": 0.5, "min_visible": 0.6, "brightness": 0.05,
                      "contrast": 0.1}

    c.model.name = "ssd"
    c.model.backbone = "tiny_backbone"
    c.model.feature_layers = ("stage2_out", "stage3_out")
    c.model.extra_levels = 0
    c.model.anchor_scales = ((0.05, 0.07), (0.09, 0.12), (0.16,))
    c.model.aspect_ratios = (0.5, 1.0, 2.0)
    c.model.head_width = 64
    c.model.top_down = True

    c.task = ml_collections.ConfigDict()
    c.task.name = "detection"
    c.task.positive_iou = 0.5
    c.task.negative_iou = 0.4
    c.task.box_loss = "smooth_l1"
    c.task.score_threshold = 0.05
    c.task.nms_iou = 0.45
    c.task.max_detections = 50

    c.optim.name = "adam"
    c.optim.lr = 1e-3
    c.optim.schedule = "cosine"
    c.optim.warmup_steps = 50
    c.optim.clip_norm = 10.0

    c.train.epochs = 12
    c.train.batch_size = 16
    c.train.eval_batch_size = 32
    c.train.log_every = 19
    c.train.eval_every = 76  # every 4 epochs
    c.train.checkpoint_every = 76
    c.train.best_metric = "val/map50"
    c.train.early_stopping.metric = "val/map50"
    return c
