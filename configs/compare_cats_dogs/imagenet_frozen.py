"""Cat vs dog on the frozen ImageNet EfficientNet-Lite0 (feature extraction): only the new head trains."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare_common import lite0_transfer_config  # noqa: E402


def get_config():
    c = lite0_transfer_config()
    c.optim.freeze = ("backbone/.*",)  # a fixed mask: XLA drops the backbone's backward pass
    c.train.epochs = 2
    return c
