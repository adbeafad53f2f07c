"""Dogs vs cats with the lesson's convnet (Conv32-64-128-128, Dense512, sigmoid)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cats_dogs_common import cats_dogs_config  # noqa: E402


def get_config():
    c = cats_dogs_config()
    c.model.name = "cats_dogs_cnn"
    c.model.dropout = 0.0
    return c
