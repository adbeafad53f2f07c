"""Dogs vs cats with a dense network (flatten + dense layers): the baseline convnets beat."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cats_dogs_common import cats_dogs_config  # noqa: E402


def get_config():
    c = cats_dogs_config()
    c.model.name = "dense"
    c.model.hidden = (512, 256)
    c.model.dropout_rate = 0.0
    return c
