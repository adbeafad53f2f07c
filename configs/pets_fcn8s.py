"""FCN-8s on Oxford-IIIT Pet trimaps (TFDS ``oxford_iiit_pet``): background, pet, border.

The TFDS mapping in ``cnnlab.data.tfds_source`` turns the trimap (1 pet,
2 background, 3 border) into mask 0 background, 1 pet, 2 border; set
``--config.data.pet_border=ignore`` and ``--config.model.num_classes=2`` to
ignore the border instead. Needs the dataset prepared in array_record format
(see ``cnnlab.data.tfds_source``). VGG16 backbone, randomly initialised.

    python scripts/segment.py --mode=train --config=configs/pets_fcn8s.py --workdir=runs/pets_fcn8s
"""
import ml_collections

from cnnlab.train.defaults import base_config


def get_config():
    c = base_config()
    c.model.name = "fcn8s"
    c.model.num_classes = 3  # the breed count (37) is the data's num_classes, not the mask's
    c.model.backbone = "vgg16"
    c.model.dropout_rate = 0.5
    c.model.upsample = "transpose"

    c.data.name = "oxford_iiit_pet"
    c.data.image_size = (224, 224)
    c.data.pet_border = "class"
    c.data.train_split = "train[:90%]"
    c.data.eval_split = "train[90%:]"
    c.data.test_split = "test"
    c.data.augment = {"flip": True, "scale": (0.8, 1.25)}

    c.task = ml_collections.ConfigDict()  # replaces the classification defaults
    c.task.name = "segmentation"

    c.optim.name = "adam"
    c.optim.lr = 1e-4
    c.optim.schedule = "cosine"
    c.optim.warmup_steps = 200

    c.train.epochs = 30
    c.train.batch_size = 16
    c.train.best_metric = "val/mean_iou"
    c.train.early_stopping.metric = "val/mean_iou"
    c.train.early_stopping.patience = 5
    return c
