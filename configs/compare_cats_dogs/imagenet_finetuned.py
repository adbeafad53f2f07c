"""Cat vs dog on the ImageNet EfficientNet-Lite0, fine-tuned: head first (base frozen), then all at a low rate."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare_common import lite0_transfer_config  # noqa: E402


def get_config():
    c = lite0_transfer_config()
    c.train.phases = (
        {"epochs": 1, "lr": 1e-3, "freeze": ("backbone/.*",)},
        {"epochs": 1, "lr": 1e-4, "freeze": ()},
    )
    return c
