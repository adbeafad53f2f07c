"""The "pretrained convnet" of the comparison: simple_cnn on the 8 CIFAR-10 classes besides cat and dog.

Train it first (scripts/compare.py does, via --prerequisites); the fine-tuned
and frozen classifiers start from its run directory.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare_common import CONV_WIDTHS, other8_config  # noqa: E402


def get_config():
    c = other8_config()
    c.model.name = "simple_cnn"
    c.model.widths = CONV_WIDTHS
    c.model.dropout = 0.0
    return c
