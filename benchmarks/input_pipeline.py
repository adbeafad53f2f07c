"""Input pipeline throughput (`cnnlab.data`) against the training step it feeds.

For each case, four rates in images/s, in one process:
  loader     host batches from `cnnlab.data.build(...).epoch(0)` alone
             (Grain readers decoding and batching);
  augment    the on-device augmentation `cnnlab.data.augment.build(cfg)`
             alone, jitted;
  step       the cnnlab train step with that augmentation on pre-loaded
             host batches (what the step could consume);
  fed        the same step fed by the loader, as `cnnlab.train.run` does.
`fed / step` near 1 means the loader never starves the step.
"""
import os
import time

import cnnlab  # noqa: F401  (XLA flags before jax)
import jax
import numpy as np

from cnnlab import data as data_lib
from cnnlab import tasks
from cnnlab.train.defaults import base_config
from cnnlab.train.loop import batch_augment
from cnnlab.train.optim import make_optimizer
from cnnlab.train.parallel import JitMesh
from cnnlab.train.state import create_state

from benchmarks import specs

# case -> (benchmark model, data config builder given the shared data folder, augment config)
CASES = {
    "mnist_npz": ("mnist_cnn",
                  lambda shared: {"name": "npz", "path": os.path.join(shared, "mnist.npz")},
                  {"rotation_range": 10.0, "width_shift_range": 0.1, "height_shift_range": 0.1}),
    "cifar10_jpeg": ("cifar10_cnn",
                     lambda shared: {"name": "image_folder",
                                     "archive": os.path.join(shared, "cifar10_jpg.tar.gz")},
                     {"crop_padding": 4, "horizontal_flip": True}),
}
SHARED_FILES = {"mnist_npz": "mnist.npz", "cifar10_jpeg": "cifar10_jpg.tar.gz"}


def _rate(images: int, seconds: float) -> float:
    return images / seconds


def measure_pipeline(case: str, shared_dir: str, steps: int, batch_size: int = 0) -> dict:
    """The four rates of `case` over `steps` batches (after one warm-up batch each)."""
    if case not in CASES:
        raise ValueError(f"unknown input-pipeline case {case!r}; choose from {sorted(CASES)}.")
    path = os.path.join(shared_dir, SHARED_FILES[case])
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} is missing: the input-pipeline benchmark reads the shared "
                                f"data folder; pass --shared_data=<folder holding {SHARED_FILES[case]}>.")
    model_name, data_config, augment_config = CASES[case]
    spec = specs.get(model_name)
    batch_size = batch_size or spec.batch_size
    dataset = data_lib.build(data_config(shared_dir), "train", batch_size, train=True, seed=0)
    if steps + 1 > dataset.steps_per_epoch:
        raise ValueError(f"steps={steps} exceeds the {dataset.steps_per_epoch - 1} available in one epoch.")
    augment = data_lib.augment.build(augment_config)

    # Loader alone.
    batches = dataset.epoch(0)
    first = next(batches)  # starts the readers
    start = time.perf_counter()
    host = [next(batches) for _ in range(steps)]
    loader = _rate(steps * batch_size, time.perf_counter() - start)

    # Augmentation alone, on device.
    jitted = jax.jit(augment)
    images = jax.device_put(first["image"])
    jax.block_until_ready(jitted(images, jax.random.key(0)))
    start = time.perf_counter()
    for i in range(steps):
        out = jitted(images, jax.random.key(i))
    jax.block_until_ready(out)
    augment_rate = _rate(steps * batch_size, time.perf_counter() - start)

    # The step with augmentation: on pre-loaded batches, then fed by the loader.
    model = spec.cnnlab_model()
    task = tasks.create("classification", num_classes=dataset.info.num_classes)
    state = create_state(model, lambda p: make_optimizer(base_config().optim, p, 1),
                         np.zeros((1,) + dataset.info.image_shape, np.float32), jax.random.key(0))
    config = base_config()
    config.data.augment = augment_config
    par = JitMesh(model, task, batch_augment(config, task))  # the loop's own augmentation
    state = par.put_state(state)
    state, sums = par.train_step(state, par.put_batch(first))
    jax.block_until_ready(sums)
    start = time.perf_counter()
    for batch in host:
        state, sums = par.train_step(state, par.put_batch(batch))
    jax.block_until_ready((state, sums))
    step_rate = _rate(steps * batch_size, time.perf_counter() - start)

    batches = dataset.epoch(1)
    state, sums = par.train_step(state, par.put_batch(next(batches)))
    jax.block_until_ready(sums)
    start = time.perf_counter()
    for _ in range(steps):
        state, sums = par.train_step(state, par.put_batch(next(batches)))
    jax.block_until_ready((state, sums))
    fed_rate = _rate(steps * batch_size, time.perf_counter() - start)
    return {"case": case, "model": model_name, "data": dataset.info.name, "batch_size": batch_size,
            "steps": steps, "augment": augment_config, "loader_images_per_s": loader,
            "augment_images_per_s": augment_rate, "step_images_per_s": step_rate,
            "fed_images_per_s": fed_rate, "fed_over_step": fed_rate / step_rate,
            "status": "ok", "note": f"{dataset.num_threads} Grain reader threads"}
