"""FCN-8s on the real SEM rock set (PASCAL VOC layout, 4 classes), CPU-sized.

Data: ``../shared/data/voc_seg_rocks.tar.gz`` (756 grayscale 256x256 images,
index-PNG masks with values 0..3), extracted once into ~/.cache/cnnlab/data,
read at 128x128 (images bilinear, masks nearest) as RGB. Splits: train (707),
val (23), test (26).

Model: VGG16's layout at a quarter of its width with BatchNorm and fc6/fc7 of
128 units, randomly initialised (no ImageNet weights are loaded yet); set
``--config.model.backbone_width=1.0 --config.model.backbone_batch_norm=False
--config.model.fc_units=4096`` for the paper's VGG16.
``configs/rocks_fcn32s_vgg16.py`` is the same run with the FCN-32s head.

    python scripts/segment.py --mode=train --config=configs/rocks_fcn8s_vgg16.py --workdir=runs/rocks_fcn8s
"""
import ml_collections

from cnnlab.train.defaults import base_config

ROCKS_ARCHIVE = "../shared/data/voc_seg_rocks.tar.gz"


def get_config(variant: str = "8s"):
    c = base_config()
    c.model.name = f"fcn{variant}"
    c.model.backbone = "vgg16"
    c.model.backbone_width = 0.25
    c.model.backbone_batch_norm = True
    c.model.fc_units = 128
    c.model.dropout_rate = 0.1
    c.model.upsample = "transpose"

    c.data.name = "voc_segmentation"
    c.data.archive = ROCKS_ARCHIVE
    c.data.image_size = (128, 128)
    c.data.num_classes = 4
    c.data.train_split = "train"
    c.data.eval_split = "val"
    c.data.test_split = "test"
    c.data.augment = {"flip": True}

    c.task = ml_collections.ConfigDict()  # replaces the classification defaults
    c.task.name = "segmentation"

    c.optim.name = "adam"
    c.optim.lr = 2e-3
    c.optim.schedule = "cosine"
    c.optim.warmup_steps = 30

    c.train.epochs = 8
    c.train.batch_size = 16
    c.train.eval_batch_size = 23
    c.train.log_every = 22
    c.train.best_metric = "val/mean_iou"
    c.train.early_stopping.metric = "val/mean_iou"
    return c
