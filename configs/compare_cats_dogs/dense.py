"""Cat vs dog with a dense network (flatten + two dense layers): the baseline convnets beat."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare_common import cats_dogs_cifar_config  # noqa: E402


def get_config():
    c = cats_dogs_cifar_config()
    c.model.name = "dense"
    c.model.hidden = (256, 128)
    c.model.dropout_rate = 0.2
    c.optim.lr = 3e-4
    c.train.epochs = 8
    return c
