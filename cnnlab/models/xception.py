"""Xception (Chollet 2017) laid out exactly like ``keras.applications.Xception``.

Entry flow (block1 plain convs, blocks 2-4 separable convs with strided 1x1
shortcuts), middle flow (blocks 5-12: three separable convs, identity
shortcut), exit flow (block13 with a shortcut, block14 without). Separable
convs are depthwise + pointwise without bias (``SeparableConv2D``);
BatchNorm uses Keras's momentum 0.99 and epsilon 1e-3. Layer names are
Keras's: ``block1_conv1``, ``block1_conv1_bn``, ``block1_conv1_act``, ...,
``block2_sepconv1``, ``block2_sepconv1_bn``, ``block2_pool``, ...,
``avg_pool``, ``predictions``; the layers Keras leaves unnamed get the names
a fresh Keras session gives them: shortcut convs ``conv2d`` .. ``conv2d_3``,
their BatchNorms ``batch_normalization`` .. ``batch_normalization_3``,
the residual sums ``add`` .. ``add_11``.

With the top at 299x299x3: 22,910,480 parameters as Keras counts them
(22,855,952 trainable + 54,528 BatchNorm moving statistics).
Inputs must be at least 71x71 (as in Keras).

Feature taps (``cnnlab.models.features`` names), sown into
``intermediates`` at each block output, for an H x W input:
``block1`` (~H/2, 64), ``block2`` (~H/4, 128), ``block3`` (~H/8, 256),
``block4`` .. ``block12`` (~H/16, 728), ``block13`` (~H/32, 1024),
``block14`` (~H/32, 2048); 299x299 gives 147, 74, 37, 19 and 10 pixels.
Every named layer (``block13_sepconv2_bn``, ``add_11``, ...) too.
"""
from typing import Any

import jax.numpy as jnp
import flax.linen as nn

from cnnlab.models.layers import (
    Conv, Activation, Add, GlobalAveragePooling2D, MaxPooling2D, SeparableConv2D, check_image_batch,
    check_num_classes, check_pooling, global_pool, keras_auto_name,
)
from cnnlab.models.registry import register

BN_MOMENTUM = 0.99
BN_EPSILON = 1e-3
MIDDLE_FLOW_BLOCKS = 8
GLOROT = nn.initializers.glorot_uniform()


@register("xception")
class Xception(nn.Module):
    """Xception backbone/classifier.

    include_top: avg_pool -> predictions, float32 logits ``(B, num_classes)``
    (Keras applies softmax inside ``predictions``; here it is left to the loss).
    Otherwise ``pooling=None`` returns the block14 map ``(B, h, w, 2048)``;
    'avg'/'max' return ``(B, 2048)``.
    """

    num_classes: int = 1000
    include_top: bool = True
    pooling: str | None = None
    dtype: Any = jnp.float32

    def __post_init__(self):
        check_num_classes(self.num_classes)
        check_pooling(self.pooling)
        super().__post_init__()

    @nn.compact
    def __call__(self, x, train: bool = False):  # (B, H, W, 3)
        check_image_batch(x, "xception", min_size=71)
        counters = {"conv2d": 0, "batch_normalization": 0, "add": 0}

        def auto_name(base):
            counters[base] += 1
            return keras_auto_name(base, counters[base] - 1)

        def bn(y, name):
            return nn.BatchNorm(use_running_average=not train, momentum=BN_MOMENTUM,
                                epsilon=BN_EPSILON, dtype=self.dtype, param_dtype=jnp.float32,
                                name=name)(y)

        def relu(y, name):
            return Activation("relu", name=name)(y)

        def sepconv_bn(y, features, name):
            y = SeparableConv2D(features, 3, padding="SAME", use_bias=False, kernel_init=GLOROT,
                                dtype=self.dtype, name=name)(y)
            return bn(y, f"{name}_bn")

        def strided_shortcut(y, features):  # 1x1/2 conv + BN, Keras leaves them unnamed
            y = Conv(features, (1, 1), (2, 2), padding="SAME", use_bias=False,
                        kernel_init=GLOROT, dtype=self.dtype, param_dtype=jnp.float32,
                        name=auto_name("conv2d"))(y)
            return bn(y, auto_name("batch_normalization"))

        def add(a, b):
            return Add(name=auto_name("add"))(a, b)

        # Entry flow, block1: two plain 'valid' convs.
        x = Conv(32, (3, 3), (2, 2), padding="VALID", use_bias=False, kernel_init=GLOROT,
                    dtype=self.dtype, param_dtype=jnp.float32, name="block1_conv1")(x)
        x = relu(bn(x, "block1_conv1_bn"), "block1_conv1_act")  # (B, 149, 149, 32) at 299
        x = Conv(64, (3, 3), padding="VALID", use_bias=False, kernel_init=GLOROT,
                    dtype=self.dtype, param_dtype=jnp.float32, name="block1_conv2")(x)
        x = relu(bn(x, "block1_conv2_bn"), "block1_conv2_act")  # (B, 147, 147, 64)
        self.sow("intermediates", "block1", x)

        # Entry flow, blocks 2-4: [relu] sepconv-bn, relu, sepconv-bn, pool + strided shortcut.
        for block, width in ((2, 128), (3, 256), (4, 728)):
            residual = strided_shortcut(x, width)
            prefix = f"block{block}"
            if block > 2:  # block2 follows block1's ReLU directly
                x = relu(x, f"{prefix}_sepconv1_act")
            x = sepconv_bn(x, width, f"{prefix}_sepconv1")
            x = relu(x, f"{prefix}_sepconv2_act")
            x = sepconv_bn(x, width, f"{prefix}_sepconv2")
            x = MaxPooling2D(3, 2, padding="SAME", name=f"{prefix}_pool")(x)
            x = add(x, residual)  # (B, 74|37|19, .., width) at 299
            self.sow("intermediates", prefix, x)

        # Middle flow, blocks 5-12: three relu-sepconv-bn, identity shortcut.
        for block in range(5, 5 + MIDDLE_FLOW_BLOCKS):
            residual = x
            prefix = f"block{block}"
            for i in (1, 2, 3):
                x = relu(x, f"{prefix}_sepconv{i}_act")
                x = sepconv_bn(x, 728, f"{prefix}_sepconv{i}")
            x = add(x, residual)  # (B, 19, 19, 728) at 299
            self.sow("intermediates", prefix, x)

        # Exit flow, block13 (with shortcut) and block14.
        residual = strided_shortcut(x, 1024)
        x = relu(x, "block13_sepconv1_act")
        x = sepconv_bn(x, 728, "block13_sepconv1")
        x = relu(x, "block13_sepconv2_act")
        x = sepconv_bn(x, 1024, "block13_sepconv2")
        x = MaxPooling2D(3, 2, padding="SAME", name="block13_pool")(x)
        x = add(x, residual)  # (B, 10, 10, 1024) at 299
        self.sow("intermediates", "block13", x)
        x = relu(sepconv_bn(x, 1536, "block14_sepconv1"), "block14_sepconv1_act")
        x = relu(sepconv_bn(x, 2048, "block14_sepconv2"), "block14_sepconv2_act")
        self.sow("intermediates", "block14", x)  # (B, 10, 10, 2048) at 299

        if self.include_top:
            x = GlobalAveragePooling2D(name="avg_pool")(x)  # (B, 2048)
            x = nn.Dense(self.num_classes, kernel_init=GLOROT, dtype=self.dtype,
                         param_dtype=jnp.float32, name="predictions")(x)
            return x.astype(jnp.float32)
        return x if self.pooling is None else global_pool(self.pooling)(x)
