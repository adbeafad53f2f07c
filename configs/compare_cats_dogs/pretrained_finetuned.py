"""Cat vs dog with the pretrained convnet fine-tuned: train the head frozen, then unfreeze all at a low rate."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare_common import transfer_config  # noqa: E402


def get_config():
    c = transfer_config()
    c.train.phases = (
        {"epochs": 2, "lr": 1e-3, "freeze": ("backbone/.*",)},
        {"epochs": 4, "lr": 3e-4, "freeze": ()},
    )
    return c
