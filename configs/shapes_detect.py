"""Single-stage SSD-style detector on multi-object shapes (1-4 objects, 3 classes, 64x64).

A tiny backbone (4 conv stages), anchors on the 16x16 ``stage2_out`` and 8x8
``stage3_out`` maps and the 4x4 last map (objects span 10-26 pixels), merged
FPN-style; focal + smooth-L1 loss; flips and
scale/crop augmentation that move the boxes. Evaluated with VOC mAP@0.5
(``map50``) and COCO AP (``ap``) on the held-out test split. About ten
minutes on a 2-core CPU.
"""
import ml_collections

from cnnlab.train.defaults import base_config


def get_config():
    c = base_config()
    c.data.name = "shapes"
    c.data.variant = "detect"
    c.data.num_classes = 3
    c.data.image_size = (64, 64)
    c.data.num_train = 6000
    c.data.num_validation = 500
    c.data.num_test = 1000
    c.data.storage = "memory"  # drawn on the fly: nothing written to disk
    c.data.augment = {"horizontal_flip": True, "scale_range": (0.8, 1.2),
                      "crop_probability": 0.5, "min_visible": 0.6}

    c.model.name = "ssd"
    c.model.backbone = "tiny_backbone"
    c.model.feature_layers = ("stage2_out", "stage3_out")
    c.model.extra_levels = 0
    c.model.anchor_scales = ((0.1, 0.14), (0.19, 0.26), (0.34, 0.46))
    c.model.aspect_ratios = (0.5, 1.0, 2.0)
    c.model.head_width = 64
    c.model.top_down = True  # FPN merge: the 16x16 level gets the coarse levels' semantics

    c.task = ml_collections.ConfigDict()  # replaces the classification defaults
    c.task.name = "detection"
    c.task.positive_iou = 0.5
    c.task.negative_iou = 0.4
    c.task.box_loss = "smooth_l1"
    c.task.score_threshold = 0.05
    c.task.nms_iou = 0.5
    c.task.max_detections = 20

    c.optim.name = "adam"
    c.optim.lr = 1e-3
    c.optim.schedule = "cosine"
    c.optim.warmup_steps = 100
    c.optim.clip_norm = 10.0

    c.train.epochs = 7
    c.train.batch_size = 32
    c.train.eval_batch_size = 250
    c.train.log_every = 50
    c.train.eval_every = 0  # once per epoch
    c.train.best_metric = "val/map50"
    c.train.early_stopping.metric = "val/map50"
    return c
