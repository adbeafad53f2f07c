"""The tiny config as a config file, for tests that run scripts/train.py."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_helpers import tiny_config  # noqa: E402


def get_config():
    return tiny_config(epochs=5, checkpoint_every=3, log_every=3, eval_every=6)
