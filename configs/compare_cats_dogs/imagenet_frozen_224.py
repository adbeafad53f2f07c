"""Cat vs dog on the frozen ImageNet EfficientNet-Lite0 at its own input size, 224x224, with the bottleneck head.

Frozen, the backbone only runs forward, so the native size fits the CPU
budget (the fine-tuned row stays at 128: its backward pass costs ~10x).
The head is the bottleneck recipe's (Dense 256, ReLU, dropout 0.5) trained
for 10 epochs: the 2-epoch linear head of imagenet_frozen.py stops short of
what the same features give (docs/compare_cats_dogs.md).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from imagenet_frozen import get_config as frozen_config  # noqa: E402


def get_config():
    c = frozen_config()
    c.data.image_size = (224, 224)
    c.model.hidden = (256,)
    c.model.dropout = 0.5
    c.train.epochs = 10
    return c
