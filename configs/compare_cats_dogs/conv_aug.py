"""Cat vs dog with the same conv layers, dropout and data augmentation (flips, padded crops)."""
import os
import sys

from ml_collections import ConfigDict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare_common import CONV_WIDTHS, cats_dogs_cifar_config  # noqa: E402


def get_config():
    c = cats_dogs_cifar_config()
    c.model.name = "simple_cnn"
    c.model.widths = CONV_WIDTHS
    c.model.dropout = 0.2
    c.data.augment = ConfigDict({"horizontal_flip": True, "crop_padding": 4})
    c.train.epochs = 12
    return c
