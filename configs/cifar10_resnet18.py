"""ResNet-18 with the CIFAR stem (3x3 conv, no max-pool): SGD+Nesterov, cosine, crop+flip."""
from ml_collections import ConfigDict

from cnnlab.train.defaults import base_config


def get_config():
    c = base_config()
    c.data.name = "cifar10"
    c.data.data_dir = ""
    c.data.train_split = "train[:45000]"
    c.data.eval_split = "train[45000:]"
    c.data.archive = ""
    c.data.root = "."  # relative to the extracted archive
    c.data.validation_fraction = 0.1
    c.data.augment = ConfigDict({"crop_padding": 4, "horizontal_flip": True, "fill_mode": "constant"})
    c.model.name = "resnet18"
    c.model.stem = "cifar"
    c.optim.name = "sgd"
    c.optim.lr = 0.1
    c.optim.momentum = 0.9
    c.optim.nesterov = True
    c.optim.weight_decay = 5e-4
    c.optim.schedule = "cosine"
    c.optim.warmup_steps = 200
    c.train.epochs = 30
    c.train.batch_size = 128
    c.train.eval_batch_size = 500
    return c
