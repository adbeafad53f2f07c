"""SSD on PASCAL VOC 2007 through TFDS (``voc/2007``), for a machine that has it prepared.

The classic SSD300 layout on VGG-16: anchors on ``block4_conv3`` (38x38),
the backbone's last map ``block5_pool`` (9x9) and three stride-2 extra
levels (5x5, 3x3, 2x2), merged FPN-style; focal + smooth-L1 loss;
VOC mAP@0.5 and COCO AP on the test split. TFDS needs the dataset prepared
in the array_record format (``tfds build voc/2007
--file_format=array_record`` where TensorFlow and internet are available;
then ``--config.data.data_dir=...``). Pretrained VGG-16 weights, when the
pretrained package provides them, go into ``backbone``; train from scratch
otherwise (slow: a GPU job).
"""
import ml_collections

from cnnlab.train.defaults import base_config


def get_config():
    c = base_config()
    c.data.name = "voc/2007"
    c.data.image_size = (300, 300)
    c.data.max_boxes = 48
    c.data.train_split = "train+validation"
    c.data.eval_split = "test[:500]"
    c.data.test_split = "test"
    c.data.data_dir = ""
    c.data.augment = {"horizontal_flip": True, "scale_range": (0.6, 1.6), "crop_probability": 0.7,
                      "min_visible": 0.5, "brightness": 0.1, "contrast": 0.2}

    c.model.name = "ssd"
    c.model.backbone = "vgg16"
    c.model.feature_layers = ("block4_conv3",)
    c.model.extra_levels = 3
    c.model.extra_width = 256
    c.model.head_width = 256
    c.model.top_down = True
    c.model.anchor_scales = ((0.07, 0.1), (0.2, 0.27), (0.37, 0.45), (0.54, 0.62), (0.71, 0.9))
    c.model.aspect_ratios = (0.5, 1.0, 2.0)

    c.task = ml_collections.ConfigDict()
    c.task.name = "detection"
    c.task.positive_iou = 0.5
    c.task.negative_iou = 0.4
    c.task.box_loss = "smooth_l1"
    c.task.score_threshold = 0.01
    c.task.nms_iou = 0.45
    c.task.max_detections = 100

    c.optim.name = "sgd"
    c.optim.lr = 0.01
    c.optim.momentum = 0.9
    c.optim.weight_decay = 5e-4
    c.optim.schedule = "cosine"
    c.optim.warmup_steps = 500
    c.optim.clip_norm = 10.0

    c.train.epochs = 120
    c.train.batch_size = 32
    c.train.eval_batch_size = 32
    c.train.eval_every = 2000
    c.train.checkpoint_every = 2000
    c.train.best_metric = "val/map50"
    c.train.early_stopping.metric = "val/map50"
    return c
