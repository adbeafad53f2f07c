"""FCN-8s on PASCAL VOC 2012 segmentation (21 classes, 255 = object borders), VGG16.

Point ``data.root`` at an extracted ``VOCdevkit/VOC2012`` (JPEGImages,
SegmentationClass, ImageSets/Segmentation). Images and masks are resized to
320x320 (masks by nearest neighbour) so they batch; flips and 0.5-2x zoom
with ignore padding augment them jointly. As in the paper, the final x8
upsampling stays fixed at bilinear interpolation (frozen in the optimizer)
while the x2 layers start bilinear and learn. The backbone starts from
random weights here (no ImageNet weight file is loaded yet), so expect far
below the paper's 62.7 mean IoU.

    python scripts/segment.py --mode=train --config=configs/voc_fcn8s.py --workdir=runs/voc_fcn8s \\
        --config.data.root=/data/VOCdevkit/VOC2012
"""
import ml_collections

from cnnlab.train.defaults import base_config


def get_config():
    c = base_config()
    c.model.name = "fcn8s"
    c.model.num_classes = 21
    c.model.backbone = "vgg16"
    c.model.fc_units = 4096
    c.model.dropout_rate = 0.5
    c.model.upsample = "transpose"

    c.data.name = "voc_segmentation"
    c.data.root = "~/data/VOCdevkit/VOC2012"
    c.data.image_size = (320, 320)
    c.data.num_classes = 21
    c.data.train_split = "train"
    c.data.eval_split = "val"
    c.data.test_split = ""  # VOC's test masks are not public
    c.data.augment = {"flip": True, "scale": (0.5, 2.0)}

    c.task = ml_collections.ConfigDict()  # replaces the classification defaults
    c.task.name = "segmentation"

    c.optim.name = "sgd"
    c.optim.lr = 1e-3
    c.optim.momentum = 0.9
    c.optim.weight_decay = 5e-4
    c.optim.schedule = "cosine"
    c.optim.freeze = ("upscore8/.*",)  # fixed bilinear x8, as in the paper

    c.train.epochs = 50
    c.train.batch_size = 8
    c.train.best_metric = "val/mean_iou"
    c.train.early_stopping.metric = "val/mean_iou"
    return c
