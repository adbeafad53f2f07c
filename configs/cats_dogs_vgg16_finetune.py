"""Dogs vs cats: VGG16 head first with the base frozen, then fine-tune block5 (the lesson's two phases).

Phase 1: SGD lr 0.2, momentum 0.9, decay 0.01, 5 epochs, base frozen.
Phase 2: lr 0.01, decay 0.001, 5 epochs, blocks 1-4 still frozen.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cats_dogs_vgg16_frozen import get_config as frozen_config  # noqa: E402


def get_config():
    c = frozen_config()
    c.train.phases = (
        {"epochs": 5, "lr": 0.2, "schedule": "inverse_time", "decay": 0.01, "freeze": ("backbone/.*",)},
        {"epochs": 5, "lr": 0.01, "schedule": "inverse_time", "decay": 0.001,
         "freeze": ("backbone/block[1-4]_.*",)},
    )
    return c
