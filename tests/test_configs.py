"""Every experiment config loads, passes validation and builds its model and task."""
import glob
import os
import runpy

import jax
import jax.numpy as jnp
import pytest

from cnnlab import data, models, tasks
from cnnlab.train import config_check, loop

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# configs/generative/ hold the settings of scripts/generative.py's own loops (tested there).
CONFIGS = sorted(p for p in glob.glob(os.path.join(REPO, "configs", "**", "*.py"), recursive=True)
                 if "get_config" in open(p).read() and os.sep + "generative" + os.sep not in p)


def test_there_are_configs():
    names = {os.path.basename(p) for p in CONFIGS}
    assert {"shapes_cnn.py", "mnist_cnn.py", "cifar10_cnn.py", "cifar10_resnet18.py",
            "cats_dogs_dense.py", "cats_dogs_cnn.py", "cats_dogs_cnn_aug.py",
            "fashion_mnist_cnn.py"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=[os.path.relpath(p, REPO) for p in CONFIGS])
def test_config_builds_model_and_task(path):
    config = runpy.run_path(path)["get_config"]()
    config_check.validate(config)
    assert config.data.name in data.source_names() or config.data.name.startswith(("tfds:", "voc"))
    num_classes = config.model.get("num_classes", None) or 3

    class Info:
        pass

    info = Info()
    info.num_classes = num_classes
    model, task = loop.build_model_and_task(config, info)
    assert config.task.name in tasks.available()
    size = tuple(config.data.get("image_size", None) or (32, 32))
    if isinstance(size, int):
        size = (size, size)
    size = tuple(min(s, 96) if config.model.name not in ("transfer",) else s for s in size)
    if config.model.get("base", "") == "xception" or config.model.name == "xception":
        size = (71, 71)
    channels = 1 if config.data.name in ("mnist", "fashion_mnist", "npz") else 3
    shapes = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0),
                                               jnp.zeros((1,) + size[:2] + (channels,)), train=False))
    assert models.parameter_counts(shapes)["total"] > 0
