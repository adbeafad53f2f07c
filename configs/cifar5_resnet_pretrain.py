"""Pretrain the narrow ResNet-18 on the first five CIFAR-10 classes (the transfer source)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cifar5_common import BACKBONE, FIRST_FIVE, cifar5_config  # noqa: E402


def get_config():
    c = cifar5_config(FIRST_FIVE, max_per_class=2000)
    c.model.name = "resnet18"
    c.model.stem = BACKBONE["stem"]
    c.model.width = BACKBONE["width"]
    c.optim.lr = 0.05
    c.optim.schedule = "cosine"
    c.train.epochs = 6
    return c
