"""Dogs vs cats with the lesson's convnet, dropout 0.5 and its augmentation."""
import os
import sys

from ml_collections import ConfigDict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cats_dogs_common import cats_dogs_config  # noqa: E402


def get_config():
    c = cats_dogs_config()
    c.model.name = "cats_dogs_cnn"
    c.model.dropout = 0.5
    c.data.augment = ConfigDict({"rotation_range": 40, "width_shift_range": 0.2,
                                 "height_shift_range": 0.2, "shear_range": 0.2, "zoom_range": 0.2,
                                 "horizontal_flip": True, "fill_mode": "nearest"})
    c.train.epochs = 100
    return c
