"""The transfer network trained from scratch on the other five classes, same number of steps."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cifar5_resnet_transfer import PHASE_EPOCHS, get_config as transfer_config  # noqa: E402


def get_config():
    c = transfer_config()
    c.init_weights = "random"
    c.model.backbone_train = True  # no pretrained statistics to keep: BatchNorm trains
    c.train.phases = ({"epochs": 2 * PHASE_EPOCHS, "lr": 0.05, "schedule": "cosine", "freeze": ()},)
    return c
