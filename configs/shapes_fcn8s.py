"""FCN-8s on the procedural shapes masks (64x64, 4 classes: background + 3 shapes), CPU-sized.

The backbone is VGG16's layout at a quarter of its width with BatchNorm
(``backbone_width=0.25``, ``backbone_batch_norm=True``, fc6/fc7 of 128
units), randomly initialised: full-width VGG16 trains too slowly on a
2-core CPU. Set ``--config.model.backbone_width=1.0 --config.model.fc_units=4096``
for the paper's network.

    python scripts/segment.py --mode=train --config=configs/shapes_fcn8s.py --workdir=runs/shapes_fcn8s
"""
import ml_collections

from cnnlab.train.defaults import base_config


def get_config():
    c = base_config()
    c.model.name = "fcn8s"
    c.model.num_classes = 4  # background + circle, square, triangle
    c.model.backbone = "vgg16"
    c.model.backbone_width = 0.25
    c.model.backbone_batch_norm = True
    c.model.fc_units = 128
    c.model.dropout_rate = 0.1
    c.model.upsample = "transpose"

    c.data.name = "shapes"
    c.data.storage = "memory"
    c.data.image_size = (64, 64)
    c.data.num_validation = 500
    c.data.num_test = 1000
    c.data.augment = {"flip": True}

    c.task = ml_collections.ConfigDict()  # replaces the classification defaults
    c.task.name = "segmentation"

    c.optim.name = "adam"
    c.optim.lr = 2e-3
    c.optim.schedule = "cosine"
    c.optim.warmup_steps = 50

    c.train.epochs = 3
    c.train.batch_size = 32
    c.train.eval_batch_size = 100
    c.train.log_every = 50
    c.train.best_metric = "val/mean_iou"
    c.train.early_stopping.metric = "val/mean_iou"
    return c
