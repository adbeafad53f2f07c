"""The Keras CIFAR-10 example convnet with its augmentation (shifts 0.1, horizontal flips).

Reads TFDS `cifar10`; with the JPEG image folder instead:
  --config.data.name=image_folder --config.data.archive=../shared/data/cifar10_jpg.tar.gz
"""
from ml_collections import ConfigDict

from cnnlab.train.defaults import base_config


def get_config():
    c = base_config()
    c.data.name = "cifar10"
    c.data.data_dir = ""
    c.data.train_split = "train[:45000]"
    c.data.eval_split = "train[45000:]"
    # For data.name="image_folder": the archive unpacks to {train,test}/<class>/*.jpg.
    c.data.archive = ""
    c.data.root = "."  # relative to the extracted archive
    c.data.validation_fraction = 0.1
    c.data.augment = ConfigDict({"width_shift_range": 0.1, "height_shift_range": 0.1,
                                 "horizontal_flip": True, "fill_mode": "nearest"})
    c.model.name = "cifar10_cnn"
    c.optim.name = "rmsprop"
    c.optim.lr = 1e-4
    c.optim.schedule = "inverse_time"
    c.optim.decay = 1e-6
    c.train.epochs = 50
    c.train.batch_size = 32
    c.train.eval_batch_size = 500
    return c
