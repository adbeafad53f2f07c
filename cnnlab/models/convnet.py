"""`simple_cnn`: a small configurable convnet with BatchNorm and global pooling.

Each stage is `convs_per_stage` x (3x3 conv 'same' -> BatchNorm -> ReLU)
followed by 2x2 max pooling; the head is global max (or average) pooling, dropout and
a dense classifier, so the model works at any input size and its parameter
count does not grow with the image. The default widths (32, 64, 128) train
the shapes dataset to >= 98% in a few CPU minutes.
Named layers: `stage{i}_conv{j}`, `stage{i}_bn{j}`, `stage{i}_pool`,
`global_pool` (sown), `predictions`.
"""
from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from cnnlab.models.layers import Conv
from cnnlab.models.registry import register
from cnnlab.ops import pool


@register("simple_cnn")
class SimpleCNN(nn.Module):
    num_classes: int = 10
    widths: Sequence[int] = (32, 64, 128)
    convs_per_stage: int = 1
    dropout: float = 0.0
    global_pool: str = "max"  # 'max' finds a shape anywhere; 'avg' dilutes it with background
    include_top: bool = True
    pooling: Any = None  # without the top: None (feature map), 'avg' or 'max'
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, train: bool = False):  # x: (B, H, W, C)
        if x.ndim != 4:
            raise ValueError(f"simple_cnn expects images (B, H, W, C), got shape {x.shape}.")
        x = x.astype(self.dtype)
        for i, width in enumerate(self.widths, start=1):
            for j in range(1, self.convs_per_stage + 1):
                x = Conv(width, (3, 3), padding="SAME", use_bias=False, dtype=self.dtype,
                            param_dtype=jnp.float32, name=f"stage{i}_conv{j}")(x)
                x = nn.BatchNorm(use_running_average=not train, momentum=0.9, dtype=self.dtype,
                                 param_dtype=jnp.float32, name=f"stage{i}_bn{j}")(x)
                x = nn.relu(x)
            x = pool.max_pool(x, 2)  # (B, H/2, W/2, width)
            self.sow("intermediates", f"stage{i}_pool", x)
        if not self.include_top:
            if self.pooling is None:
                return x  # (B, h, w, C)
            return x.mean(axis=(1, 2)) if self.pooling == "avg" else x.max(axis=(1, 2))
        if self.global_pool not in ("max", "avg"):
            raise ValueError(f"simple_cnn global_pool={self.global_pool!r}; use 'max' or 'avg'.")
        x = x.max(axis=(1, 2)) if self.global_pool == "max" else x.mean(axis=(1, 2))  # (B, C)
        self.sow("intermediates", "global_pool", x)
        if self.dropout:
            x = nn.Dropout(self.dropout, deterministic=not train)(x)
        x = nn.Dense(self.num_classes, dtype=self.dtype, param_dtype=jnp.float32,
                     name="predictions")(x)
        return x.astype(jnp.float32)  # (B, num_classes)


@register("cats_dogs_cnn")
class CatsDogsCNN(nn.Module):
    """The dogs-vs-cats lesson's convnet (Chollet, ch. 5) for 150x150 inputs.

    Conv32-3 / pool / Conv64-3 / pool / Conv128-3 / pool / Conv128-3 / pool /
    Flatten / [Dropout 0.5] / Dense512 / Dense(num_classes): 3,453,121
    parameters with one sigmoid output at 150x150x3, as Keras counts them.
    """

    num_classes: int = 1
    dropout: float = 0.0
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, train: bool = False):  # x: (B, 150, 150, 3)
        x = x.astype(self.dtype)
        for i, width in enumerate((32, 64, 128, 128), start=1):
            x = Conv(width, (3, 3), padding="VALID", dtype=self.dtype, param_dtype=jnp.float32,
                        name=f"conv{i}")(x)
            x = pool.max_pool(nn.relu(x), 2)
        x = x.reshape((x.shape[0], -1))
        if self.dropout:
            x = nn.Dropout(self.dropout, deterministic=not train)(x)
        x = nn.relu(nn.Dense(512, dtype=self.dtype, param_dtype=jnp.float32, name="fc1")(x))
        x = nn.Dense(self.num_classes, dtype=self.dtype, param_dtype=jnp.float32, name="predictions")(x)
        return x.astype(jnp.float32)
