"""The four localization/detection configs load, and their models and tasks fit together."""
import runpy
from pathlib import Path

import cnnlab  # noqa: F401  (XLA flags before jax)
import jax
import jax.numpy as jnp
import pytest

from cnnlab.train import config_check, loop
from cnnlab.data.pipeline import DatasetInfo

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.mark.parametrize("name,classes,size,metric", [
    ("shapes_localize", 3, (64, 64), "val/mean_iou"),
    ("shapes_detect", 3, (64, 64), "val/map50"),
    ("voc_cells_detect", 1, (160, 160), "val/map50"),
    ("voc_detect", 20, (300, 300), "val/map50"),
])
def test_config_builds_a_model_its_task_accepts(name, classes, size, metric):
    config = runpy.run_path(str(CONFIGS / f"{name}.py"))["get_config"]()
    config_check.validate(config)
    assert config.train.best_metric == metric == config.train.early_stopping.metric
    info = DatasetInfo(name=name, split="train", num_classes=classes, class_names=("x",) * classes,
                       image_shape=size + (3,), num_examples=10, max_boxes=4)
    model, task = loop.build_model_and_task(config, info)
    x = jax.ShapeDtypeStruct((2,) + size + (3,), jnp.float32)
    variables = jax.eval_shape(lambda x: model.init(jax.random.key(0), x), x)
    outputs = jax.eval_shape(lambda v, x: model.apply(v, x), variables, x)
    batch = {"image": x, "label": jax.ShapeDtypeStruct((2,), jnp.int32),
             "boxes": jax.ShapeDtypeStruct((2, 4, 4), jnp.float32),
             "box_labels": jax.ShapeDtypeStruct((2, 4), jnp.int32)}
    loss = jax.eval_shape(lambda o, b: task.loss(o, b)[0], outputs, batch)
    assert loss.shape == ()
    shown = jax.eval_shape(task.predictions, outputs)
    assert shown["boxes"].shape[:1] == (2,) and shown["boxes"].shape[-1] == 4
    augment = task.make_augment(config.data.get("augment", None))
    out = jax.eval_shape(augment, batch, jax.random.key(0))
    assert out["boxes"].shape == (2, 4, 4)
