"""Classification + localization on one-object shapes (3 classes, 64x64).

The lesson's model: a backbone, pooling, a softmax class head and a sigmoid
box head (centre and size). The task's defaults are the lesson's joint loss
0.8 cross-entropy + 0.2 MSE; this config uses cross-entropy + GIoU (equal
weights), whose gradient stays strong for badly placed boxes and converges
in the CPU budget, and flattens the 8x8 last map instead of global pooling,
which throws away where the object is. Reports accuracy and the mean IoU of
predicted and true boxes.
"""
import ml_collections

from cnnlab.train.defaults import base_config


def get_config():
    c = base_config()
    c.data.name = "shapes"
    c.data.variant = "classify"
    c.data.num_classes = 3
    c.data.image_size = (64, 64)
    c.data.num_train = 6000
    c.data.num_validation = 500
    c.data.num_test = 1000
    c.data.storage = "memory"
    c.data.augment = {"horizontal_flip": True, "vertical_flip": True}

    c.model.name = "localizer"
    c.model.backbone = "tiny_backbone"
    c.model.backbone_kwargs = {"widths": (32, 64, 128)}  # 3 stages: an 8x8 last map
    c.model.pooling = "flatten"
    c.model.hidden = 128

    c.task = ml_collections.ConfigDict()  # replaces the classification defaults
    c.task.name = "localization"
    c.task.class_weight = 1.0
    c.task.box_weight = 1.0
    c.task.box_loss = "giou"

    c.optim.name = "adam"
    c.optim.lr = 1e-3
    c.optim.schedule = "cosine"
    c.optim.warmup_steps = 100

    c.train.epochs = 8
    c.train.batch_size = 64
    c.train.eval_batch_size = 250
    c.train.log_every = 50
    c.train.best_metric = "val/mean_iou"
    c.train.early_stopping.metric = "val/mean_iou"
    return c
