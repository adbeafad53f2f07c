"""Cat vs dog with the pretrained convnet frozen: only the new head trains (feature extraction)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare_common import transfer_config  # noqa: E402


def get_config():
    c = transfer_config()
    c.optim.freeze = ("backbone/.*",)
    c.train.epochs = 4
    return c
