"""Shared settings of the CPU-sized transfer experiment on CIFAR-10 halves.

A narrow ResNet-18 (CIFAR stem, width 16: 0.7M parameters) is pretrained on
five CIFAR-10 classes (airplane, automobile, bird, cat, deer) and transferred
to the other five (dog, frog, horse, ship, truck), with a small training set
per class so that each phase takes minutes on a CPU. Images come from the
JPEG folder archive (../shared/data/cifar10_jpg.tar.gz on the project's
machines; --config.data.archive=PATH elsewhere).
"""
import os

from ml_collections import ConfigDict

from cnnlab.train.defaults import base_config

FIRST_FIVE = ("airplane", "automobile", "bird", "cat", "deer")
OTHER_FIVE = ("dog", "frog", "horse", "ship", "truck")
ARCHIVE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..",
                       "shared", "data", "cifar10_jpg.tar.gz")
BACKBONE = {"stem": "cifar", "width": 16}


def cifar5_config(classes, max_per_class):
    c = base_config()
    c.data.name = "image_folder"
    c.data.archive = os.path.normpath(ARCHIVE)
    c.data.root = "."  # relative to the extracted archive
    c.data.classes = classes
    c.data.max_per_class = max_per_class
    c.data.validation_fraction = 0.1
    c.data.image_size = (32, 32)
    c.data.augment = ConfigDict({"crop_padding": 4, "horizontal_flip": True, "fill_mode": "constant"})
    c.optim.name = "sgd"
    c.optim.momentum = 0.9
    c.optim.weight_decay = 5e-4
    c.train.batch_size = 64
    c.train.eval_batch_size = 500
    return c
