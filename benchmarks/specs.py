"""The benchmark models: one architecture, input shape, batch size and step count each.

Every framework builds the same architecture from these names (cnnlab from
its registry, the peers in `benchmarks.peers`), trains it on the same
synthetic data with Adam (lr 1e-3, eps 1e-7) and softmax cross-entropy.
"""
import dataclasses
from typing import Tuple

NUM_CLASSES = 10
LEARNING_RATE = 1e-3
ADAM_EPS = 1e-7  # Keras' default; cnnlab's Adam uses the same


@dataclasses.dataclass(frozen=True)
class BenchModel:
    """One benchmark model.

    name: benchmark name (also the peers' builder name).
    cnnlab_name, cnnlab_kwargs: `cnnlab.models.create(cnnlab_name, **kwargs)`.
    image_shape: (H, W, C) of the input.
    batch_size: default training batch.
    steps: default timed steps per repeat (sized for a 2-core CPU).
    """

    name: str
    cnnlab_name: str
    cnnlab_kwargs: Tuple[Tuple[str, object], ...]
    image_shape: Tuple[int, int, int]
    batch_size: int
    steps: int

    def cnnlab_model(self, dtype=None):
        """The cnnlab Linen module; `dtype` is the compute dtype (None: float32)."""
        from cnnlab import models
        kwargs = dict(self.cnnlab_kwargs)
        if dtype is not None:
            kwargs["dtype"] = dtype
        return models.create(self.cnnlab_name, num_classes=NUM_CLASSES, **kwargs)


# system key -> (display name, peer framework it needs or None); run order.
SYSTEMS = {
    "cnnlab": ("cnnlab", None),
    "cnnlab_bf16": ("cnnlab bf16", None),
    "cnnlab_noflags": ("cnnlab, XLA flags off", None),
    "cnnlab_xla_conv": ("cnnlab (XLA conv)", None),
    "keras": ("keras", "keras"),
    "torch_eager": ("torch eager", "torch"),
    "torch_compile": ("torch compile", "torch"),
    "matmul": ("float32 matmul", None),
    "matmul_noflags": ("float32 matmul, XLA flags off", None),
    "input_pipeline": ("cnnlab.data input pipeline", None),
}
# input-pipeline cases (see benchmarks.input_pipeline.CASES)
PIPELINE_CASES = ("mnist_npz", "cifar10_jpeg")
NOFLAGS_SUFFIX = "_noflags"  # these systems run with CNNLAB_DEFAULT_XLA_FLAGS=0
XLA_CONV_SYSTEM = "cnnlab_xla_conv"  # runs with CNNLAB_CONV_BACKEND=xla; plain "cnnlab" is auto (oneDNN where it loads)


def display_name(system: str) -> str:
    """The table name of a system key ('torch_eager' -> 'torch eager')."""
    if system not in SYSTEMS:
        raise ValueError(f"unknown system {system!r}; choose from {sorted(SYSTEMS)}.")
    return SYSTEMS[system][0]


MODELS = {
    m.name: m for m in (
        BenchModel("mnist_cnn", "mnist_cnn", (), (28, 28, 1), 64, 40),
        BenchModel("cifar10_cnn", "cifar10_cnn", (), (32, 32, 3), 128, 10),
        BenchModel("resnet18_cifar", "resnet18", (("stem", "cifar"),), (32, 32, 3), 128, 2),
        BenchModel("vgg16_64", "vgg16", (), (64, 64, 3), 32, 4),
    )
}


def get(name: str) -> BenchModel:
    """The benchmark model called `name`; ValueError names the known ones."""
    if name not in MODELS:
        raise ValueError(f"unknown benchmark model {name!r}; choose from {sorted(MODELS)}.")
    return MODELS[name]


def synthetic_data(image_shape, num_examples: int, seed: int = 0):
    """Random images in [0, 1] (N, H, W, C) float32 and labels (N,) int32."""
    import numpy as np
    rng = np.random.default_rng(seed)
    images = rng.random((num_examples,) + tuple(image_shape), dtype=np.float32)
    labels = rng.integers(0, NUM_CLASSES, num_examples).astype(np.int32)
    return images, labels
