"""VGG11/13/16/19 (Simonyan & Zisserman 2014) with Keras layer names.

One table gives every depth: five stages of 3x3 'same' convolutions (ReLU)
each closed by a 2x2 stride-2 max pool. Layer names follow
``keras.applications.VGG16``: ``block{s}_conv{i}``, ``block{s}_pool``,
``flatten``, ``fc1``, ``fc2``, ``predictions`` (no BatchNorm in VGG).

Feature taps (``cnnlab.models.features`` names) for an H x W input:
``block1_pool`` (H/2, W/2, 64), ``block2_pool`` (H/4, 128),
``block3_pool`` (H/8, 256), ``block4_pool`` (H/16, 512),
``block5_pool`` (H/32, 512); every ``block{s}_conv{i}`` too.

``include_top=True`` works at any input size >= 32: ``fc1`` is sized from
the flattened ``block5_pool`` map (7*7*512 = 25,088 inputs at 224x224,
1*1*512 at 32x32), so parameter counts match Keras only at 224x224.
VGG16 has 138,357,544 parameters with the top, 14,714,688 without;
VGG19 143,667,240 / 20,024,384.

``vgg11_bn`` .. ``vgg19_bn`` (``batch_norm=True``) are torchvision's
BatchNorm VGGs: each convolution is followed by ``block{s}_conv{i}_bn``
(PyTorch's defaults: epsilon 1e-5, momentum 0.1, i.e. Flax 0.9) before
its ReLU; VGG16-BN has 138,365,992 trainable parameters with the top.
"""
from typing import Any

import jax.numpy as jnp
import flax.linen as nn

from cnnlab.models.layers import (
    Conv, Flatten, MaxPooling2D, check_image_batch, check_num_classes, check_pooling, global_pool,
)
from cnnlab.models.registry import register

# depth -> convolutions per stage; every stage doubles width up to 512.
VGG_STAGE_DEPTHS = {
    11: (1, 1, 2, 2, 2),
    13: (2, 2, 2, 2, 2),
    16: (2, 2, 3, 3, 3),
    19: (2, 2, 4, 4, 4),
}
VGG_STAGE_WIDTHS = (64, 128, 256, 512, 512)
GLOROT = nn.initializers.glorot_uniform()


@register("vgg11", depth=11)
@register("vgg13", depth=13)
@register("vgg16", depth=16)
@register("vgg19", depth=19)
@register("vgg11_bn", depth=11, batch_norm=True)
@register("vgg13_bn", depth=13, batch_norm=True)
@register("vgg16_bn", depth=16, batch_norm=True)
@register("vgg19_bn", depth=19, batch_norm=True)
class VGG(nn.Module):
    """VGG backbone/classifier.

    include_top: flatten -> fc1 -> fc2 -> predictions (float32 logits
    ``(B, num_classes)``; Keras applies softmax inside ``predictions``, here
    it is left to the loss or ``jax.nn.softmax``). Otherwise ``pooling=None`` returns the
    ``block5_pool`` map ``(B, H/32, W/32, 512)``; 'avg'/'max' return
    ``(B, 512)``. ``dropout_rate`` (0 in Keras, 0.5 in torchvision) applies
    after fc1 and fc2.
    """

    depth: int = 16
    num_classes: int = 1000
    include_top: bool = True
    pooling: str | None = None
    fc_units: int = 4096
    dropout_rate: float = 0.0
    batch_norm: bool = False
    dtype: Any = jnp.float32

    def __post_init__(self):
        if self.depth not in VGG_STAGE_DEPTHS:
            raise ValueError(
                f"VGG depth must be one of {sorted(VGG_STAGE_DEPTHS)}, got {self.depth}."
            )
        check_num_classes(self.num_classes)
        check_pooling(self.pooling)
        if not 0.0 <= self.dropout_rate < 1.0:
            raise ValueError(f"dropout_rate must be in [0, 1), got {self.dropout_rate}.")
        super().__post_init__()

    @nn.compact
    def __call__(self, x, train: bool = False):  # (B, H, W, 3)
        check_image_batch(x, f"vgg{self.depth}", min_size=32)
        for stage, (convs, width) in enumerate(
            zip(VGG_STAGE_DEPTHS[self.depth], VGG_STAGE_WIDTHS), start=1
        ):
            for i in range(1, convs + 1):
                x = Conv(width, (3, 3), padding="SAME", kernel_init=GLOROT, dtype=self.dtype,
                            param_dtype=jnp.float32, name=f"block{stage}_conv{i}")(x)
                if self.batch_norm:
                    x = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                                     dtype=self.dtype, param_dtype=jnp.float32,
                                     name=f"block{stage}_conv{i}_bn")(x)
                x = nn.relu(x)
            x = MaxPooling2D(2, name=f"block{stage}_pool")(x)  # (B, H/2^stage, W/2^stage, width)
        if not self.include_top:
            return x if self.pooling is None else global_pool(self.pooling)(x)
        x = Flatten(name="flatten")(x)  # (B, h*w*512)
        for name in ("fc1", "fc2"):
            x = nn.Dense(self.fc_units, kernel_init=GLOROT, dtype=self.dtype,
                         param_dtype=jnp.float32, name=name)(x)
            x = nn.relu(x)
            if self.dropout_rate > 0:  # Keras VGG has no dropout layers
                x = nn.Dropout(self.dropout_rate, deterministic=not train,
                               name=f"{name}_dropout")(x)
        x = nn.Dense(self.num_classes, kernel_init=GLOROT, dtype=self.dtype,
                     param_dtype=jnp.float32, name="predictions")(x)
        return x.astype(jnp.float32)
