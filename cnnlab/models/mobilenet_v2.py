"""MobileNetV2 (Sandler et al. 2018) laid out exactly like ``keras.applications.MobileNetV2``.

A 3x3/2 stem conv (``Conv1``, 'same' padding), 17 inverted residual blocks
(1x1 expansion by 6 except in block 0, 3x3 depthwise conv, linear 1x1
projection; an identity shortcut where stride is 1 and the width is
unchanged), a 1x1 conv to 1280 channels (``Conv_1``) and the top
(global average pooling, ``predictions``). ReLU6 everywhere; BatchNorm
epsilon 1e-3 and momentum 0.999 (Keras's, the same number in Flax's
convention); convolutions without bias. Like Keras, each stride-2 depthwise
conv is preceded by ``ZeroPadding2D(correct_pad)`` (one row and column
after the map, and one before it only where the size is odd) and runs
'valid'; the other depthwise convs and ``Conv1`` run 'same' (XLA's rule:
for stride 2 the extra row/column goes at the bottom/right).

``alpha`` is the width multiplier with Keras's rounding (``make_divisible``:
multiples of 8, never down by more than 10%): the stem has
``make_divisible(32 * alpha)`` channels, block outputs
``make_divisible(int(c * alpha))``, ``Conv_1`` keeps 1280 unless alpha > 1.
Keras has no dropout before ``predictions``; neither does this model.

Layer names are Keras's: ``Conv1``, ``bn_Conv1``, ``Conv1_relu``,
``expanded_conv_depthwise``, ``expanded_conv_depthwise_BN``,
``expanded_conv_depthwise_relu``, ``expanded_conv_project``,
``expanded_conv_project_BN``, then per block ``block_{i}_expand``,
``_expand_BN``, ``_expand_relu``, ``_pad`` (stride 2), ``_depthwise``,
``_depthwise_BN``, ``_depthwise_relu``, ``_project``, ``_project_BN``,
``_add`` (shortcut), and ``Conv_1``, ``Conv_1_bn``, ``out_relu``,
``global_average_pooling2d`` (Keras leaves it unnamed), ``predictions``.

With the top at 224x224x3 and alpha 1: 3,538,984 parameters as Keras counts
them (3,504,872 trainable + 34,112 BatchNorm moving statistics).
Inputs must be at least 32x32 (as in Keras).

Feature taps (``cnnlab.models.features`` names), sown into
``intermediates`` at the last block of each resolution, for an H x W input
and alpha 1: ``stage1`` (H/2, 16; block 0), ``stage2`` (H/4, 24; block 2),
``stage3`` (H/8, 32; block 5), ``stage4`` (H/16, 96; block 12),
``stage5`` (H/32, 1280; ``out_relu``, the include_top=False output);
224x224 gives 112, 56, 28, 14 and 7 pixels (sizes round up). Every named
layer (``block_13_expand_relu``, ``block_16_project_BN``, ...) too.
"""
from typing import Any, Callable

import jax
import jax.numpy as jnp
import flax.linen as nn

from cnnlab.models.layers import (
    Conv, Add, GlobalAveragePooling2D, Padding, ZeroPadding2D, check_image_batch, check_num_classes,
    check_pooling, global_pool,
)
from cnnlab.ops.conv import conv_general_dilated
from cnnlab.ops.depthwise import depthwise_conv2d
from cnnlab.models.registry import register

BN_MOMENTUM = 0.999
BN_EPSILON = 1e-3
GLOROT = nn.initializers.glorot_uniform()
# (expansion, output channels, stride) of blocks 0..16, as keras.applications builds them.
BLOCKS = (
    (1, 16, 1),
    (6, 24, 2), (6, 24, 1),
    (6, 32, 2), (6, 32, 1), (6, 32, 1),
    (6, 64, 2), (6, 64, 1), (6, 64, 1), (6, 64, 1),
    (6, 96, 1), (6, 96, 1), (6, 96, 1),
    (6, 160, 2), (6, 160, 1), (6, 160, 1),
    (6, 320, 1),
)
# Sown tap -> the block whose output it is (the last block before each stride 2 and block 16).
STAGE_ENDS = {0: "stage1", 2: "stage2", 5: "stage3", 12: "stage4"}
LAST_CONV_FILTERS = 1280


def make_divisible(value: float, divisor: int = 8) -> int:
    """Keras's ``_make_divisible``: the nearest multiple of ``divisor``, never down by > 10%."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def correct_pad(size: tuple[int, int], kernel_size: int = 3) -> tuple[tuple[int, int], tuple[int, int]]:
    """Keras's ``imagenet_utils.correct_pad``: ((top, bottom), (left, right)) for a stride-2 'valid' conv."""
    half = kernel_size // 2
    return tuple((half - (1 - n % 2), half) for n in size)


class ReLU(nn.Module):
    """``keras.layers.ReLU(max_value)``: min(max(x, 0), max_value); ReLU6 by default."""

    max_value: float = 6.0

    @nn.compact
    def __call__(self, x):
        return jnp.clip(x, 0, self.max_value)


class DepthwiseConv2D(nn.Module):
    """One k x k filter (or ``depth_multiplier`` of them) per input channel, like Keras's layer.

    Parameters in Keras's layout: ``depthwise_kernel`` (kh, kw, C,
    depth_multiplier) and, with ``use_bias`` (Keras's default), ``bias``
    (C * depth_multiplier,). Output channel ``c * m + j`` is filter ``j`` of
    channel ``c``, as in Keras.
    """

    kernel_size: int | tuple[int, int] = 3
    strides: int = 1
    padding: Padding = "SAME"  # 'SAME' | 'VALID' | int | ((top, bottom), (left, right))
    depth_multiplier: int = 1
    use_bias: bool = True
    dtype: Any = None
    param_dtype: Any = jnp.float32
    kernel_init: Callable = nn.initializers.glorot_uniform()
    bias_init: Callable = nn.initializers.zeros

    def __post_init__(self):
        if self.depth_multiplier < 1:
            raise ValueError(f"depth_multiplier must be a positive integer, got {self.depth_multiplier}.")
        super().__post_init__()

    @nn.compact
    def __call__(self, x):  # (B, H, W, C) -> (B, H', W', C * depth_multiplier)
        if x.ndim != 4:
            raise ValueError(f"DepthwiseConv2D expects (B, H, W, C) inputs, got shape {tuple(x.shape)}.")
        size = self.kernel_size
        kh, kw = (size, size) if isinstance(size, int) else size
        channels, m = x.shape[-1], self.depth_multiplier
        kernel = self.param("depthwise_kernel", self.kernel_init, (kh, kw, channels, m), self.param_dtype)
        bias = (self.param("bias", self.bias_init, (channels * m,), self.param_dtype)
                if self.use_bias else None)
        x, kernel, bias = nn.dtypes.promote_dtype(x, kernel, bias, dtype=self.dtype)
        padding = self.padding
        if isinstance(padding, int):
            padding = ((padding, padding), (padding, padding))
        elif not isinstance(padding, str):
            padding = tuple((int(lo), int(hi)) for lo, hi in padding)
        grouped = kernel.reshape((kh, kw, 1, channels * m))
        if m == 1:  # shifted multiply-adds: far faster than a grouped convolution on XLA:CPU
            y = depthwise_conv2d(x, grouped, self.strides, padding)  # (B, H', W', C)
        else:
            y = conv_general_dilated(
                x, grouped, (self.strides, self.strides), padding,
                dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=channels,
            )  # (B, H', W', C*m)
        return y if bias is None else y + bias


@register("mobilenet_v2")
class MobileNetV2(nn.Module):
    """MobileNetV2 backbone/classifier.

    include_top: global_average_pooling2d -> predictions, float32 logits
    ``(B, num_classes)`` (Keras applies softmax inside ``predictions``; here it
    is left to the loss). Otherwise ``pooling=None`` returns the ``out_relu``
    map ``(B, h, w, 1280)``; 'avg'/'max' return ``(B, 1280)``.
    """

    num_classes: int = 1000
    include_top: bool = True
    pooling: str | None = None
    alpha: float = 1.0
    dtype: Any = jnp.float32

    def __post_init__(self):
        check_num_classes(self.num_classes)
        check_pooling(self.pooling)
        if isinstance(self.alpha, bool) or not isinstance(self.alpha, (int, float)) or self.alpha <= 0:
            raise ValueError(f"MobileNetV2 alpha (width multiplier) must be positive, got {self.alpha!r}.")
        super().__post_init__()

    @nn.compact
    def __call__(self, x, train: bool = False):  # (B, H, W, 3)
        check_image_batch(x, "mobilenet_v2", min_size=32)

        def conv1x1(y, features, name):
            return Conv(features, (1, 1), padding="SAME", use_bias=False, kernel_init=GLOROT,
                           dtype=self.dtype, param_dtype=jnp.float32, name=name)(y)

        def bn(y, name):
            return nn.BatchNorm(use_running_average=not train, momentum=BN_MOMENTUM,
                                epsilon=BN_EPSILON, dtype=self.dtype, param_dtype=jnp.float32,
                                name=name)(y)

        x = Conv(make_divisible(32 * self.alpha), (3, 3), (2, 2), padding="SAME", use_bias=False,
                    kernel_init=GLOROT, dtype=self.dtype, param_dtype=jnp.float32, name="Conv1")(x)
        x = ReLU(name="Conv1_relu")(bn(x, "bn_Conv1"))  # (B, H/2, W/2, 32)

        for block_id, (expansion, filters, stride) in enumerate(BLOCKS):
            inputs = x
            in_channels = x.shape[-1]
            out_channels = make_divisible(int(filters * self.alpha))
            prefix = f"block_{block_id}_" if block_id else "expanded_conv_"
            if block_id:  # block 0 has no expansion
                x = conv1x1(x, expansion * in_channels, f"{prefix}expand")
                x = ReLU(name=f"{prefix}expand_relu")(bn(x, f"{prefix}expand_BN"))
            if stride == 2:
                x = ZeroPadding2D(correct_pad(x.shape[1:3]), name=f"{prefix}pad")(x)
            x = DepthwiseConv2D(3, stride, padding="SAME" if stride == 1 else "VALID", use_bias=False,
                                kernel_init=GLOROT, dtype=self.dtype, name=f"{prefix}depthwise")(x)
            x = ReLU(name=f"{prefix}depthwise_relu")(bn(x, f"{prefix}depthwise_BN"))
            x = bn(conv1x1(x, out_channels, f"{prefix}project"), f"{prefix}project_BN")  # linear
            if stride == 1 and in_channels == out_channels:
                x = Add(name=f"{prefix}add")(inputs, x)
            if block_id in STAGE_ENDS:
                self.sow("intermediates", STAGE_ENDS[block_id], x)

        last = make_divisible(LAST_CONV_FILTERS * self.alpha) if self.alpha > 1.0 else LAST_CONV_FILTERS
        x = Conv(last, (1, 1), use_bias=False, kernel_init=GLOROT, dtype=self.dtype,
                    param_dtype=jnp.float32, name="Conv_1")(x)
        x = ReLU(name="out_relu")(bn(x, "Conv_1_bn"))  # (B, H/32, W/32, 1280)
        self.sow("intermediates", "stage5", x)

        if self.include_top:
            x = GlobalAveragePooling2D(name="global_average_pooling2d")(x)  # (B, 1280)
            x = nn.Dense(self.num_classes, kernel_init=GLOROT, dtype=self.dtype,
                         param_dtype=jnp.float32, name="predictions")(x)
            return x.astype(jnp.float32)
        if self.pooling is None:
            return x
        return global_pool(self.pooling, name={"avg": "global_average_pooling2d",
                                               "max": "global_max_pooling2d"}[self.pooling])(x)
