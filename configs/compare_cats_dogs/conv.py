"""Cat vs dog with conv layers trained from scratch (simple_cnn: 3 conv/BN/pool stages, global max pool)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare_common import CONV_WIDTHS, cats_dogs_cifar_config  # noqa: E402


def get_config():
    c = cats_dogs_cifar_config()
    c.model.name = "simple_cnn"
    c.model.widths = CONV_WIDTHS
    c.model.dropout = 0.0
    c.train.epochs = 6
    return c
