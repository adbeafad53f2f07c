"""A tiny experiment config shared by the training tests (seconds on a CPU)."""
import os
import sys

from cnnlab.train.defaults import base_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY_CONFIG = os.path.join(REPO, "tests", "tiny_config.py")


def tiny_config(**train):
    c = base_config()
    c.data.name = "shapes"
    c.data.storage = "memory"
    c.data.variant = "classify"
    c.data.num_classes = 3
    c.data.image_size = (16, 16)
    c.data.num_train = 96
    c.data.num_validation = 32
    c.data.num_test = 32
    c.model.name = "simple_cnn"
    c.model.widths = (4, 8)
    c.optim.name = "adam"
    c.optim.lr = 3e-3
    c.train.epochs = 2
    c.train.batch_size = 16
    c.train.eval_batch_size = 16
    c.train.curves = False
    c.train.update(train)
    return c


def script_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    return env


def script(name):
    return [sys.executable, os.path.join(REPO, "scripts", name)]
