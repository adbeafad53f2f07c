"""EfficientNet-Lite0..4 (Tan & Le 2019; the TensorFlow "lite" variants for mobile and CPU).

Lite differs from EfficientNet-B0..B4 in four ways, all kept here: ReLU6
instead of swish, no squeeze-and-excitation, a stem (32 channels) and head
(1280 channels) that the width multiplier does not scale, and first/last
stages whose repeats the depth multiplier does not scale. Convolutions use
TensorFlow's 'SAME' padding (for stride 2 the extra row/column goes at the
bottom/right), which is XLA's 'SAME'; the PyTorch reference
(``efficientnet_pytorch``'s ``Conv2dStaticSamePadding``) pads the same way.
BatchNorm: epsilon 1e-3, momentum 0.99 (TensorFlow's; PyTorch 0.01).

| model | width, depth | input | dropout | parameters (with top) |
|---|---|---|---|---|
| efficientnet_lite0 | 1.0, 1.0 | 224 | 0.2 | 4,652,008 |
| efficientnet_lite1 | 1.0, 1.1 | 240 | 0.2 | 5,416,680 |
| efficientnet_lite2 | 1.1, 1.2 | 260 | 0.3 | 6,092,072 |
| efficientnet_lite3 | 1.2, 1.4 | 280 | 0.3 | 8,197,096 |
| efficientnet_lite4 | 1.4, 1.8 | 300 | 0.3 | 13,006,568 |

(counts of the ``params`` collection, which is what PyTorch's
``sum(p.numel() for p in model.parameters())`` counts; tested against the
reference.)

Layer names follow ``keras.applications.EfficientNetB0``: ``stem_conv``,
``stem_bn``, ``block{stage}{letter}_expand_conv`` / ``_expand_bn`` (absent
when the expansion ratio is 1), ``_dwconv`` / ``_bn``, ``_project_conv`` /
``_project_bn``, ``top_conv``, ``top_bn``, ``avg_pool``, ``predictions``.
Feature taps: ``stem`` (H/2), and ``stage1`` .. ``stage7`` after each
stage (H/2, H/4, H/8, H/16, H/16, H/32, H/32), ``top`` (H/32, 1280).

``drop_path_rate`` > 0 turns on stochastic depth ("drop connect" in the
TensorFlow code): in training the residual branch of each block that has a
shortcut (stride 1, same channels in and out) is dropped per example by a
``DropPath`` layer ``block{stage}{letter}_drop_path`` before the addition.
The rate rises linearly with the block's index over all blocks, shortcut
or not, from 0 (block1a) to ``drop_path_rate`` (the last block): timm's
``linspace`` rule, where TensorFlow/Keras/timm-EfficientNet use
``rate * index / num_blocks`` (their last block gets rate * (N-1)/N).
Lite's last block (block7a) has no shortcut, so the largest rate used is
rate * (N-2)/(N-1). ``block_drop_path_rates`` lists them. The default 0.0
adds no layer, so parameters, layer names and outputs are unchanged.
"""
import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp
import flax.linen as nn

from cnnlab.models.layers import (
    Conv, DepthwiseConv, DropPath, GlobalAveragePooling2D, check_drop_path_rate, check_image_batch, check_num_classes,
    check_pooling, global_pool, linear_drop_path_rates,
)
from cnnlab.models.registry import register


@dataclasses.dataclass(frozen=True)
class Stage:
    repeats: int
    kernel: int
    stride: int
    expand: int
    in_filters: int
    out_filters: int


# The EfficientNet-B0 / Lite0 stages (TensorFlow's 'r1_k3_s11_e1_i32_o16', ...).
STAGES = (
    Stage(1, 3, 1, 1, 32, 16),
    Stage(2, 3, 2, 6, 16, 24),
    Stage(2, 5, 2, 6, 24, 40),
    Stage(3, 3, 2, 6, 40, 80),
    Stage(3, 5, 1, 6, 80, 112),
    Stage(4, 5, 2, 6, 112, 192),
    Stage(1, 3, 1, 6, 192, 320),
)
# index -> (width multiplier, depth multiplier, input size, dropout before the classifier)
LITE_PARAMS = {
    0: (1.0, 1.0, 224, 0.2),
    1: (1.0, 1.1, 240, 0.2),
    2: (1.1, 1.2, 260, 0.3),
    3: (1.2, 1.4, 280, 0.3),
    4: (1.4, 1.8, 300, 0.3),
}
STEM_FILTERS = 32
HEAD_FILTERS = 1280
BN_EPSILON = 1e-3
BN_MOMENTUM = 0.99
# TensorFlow's EfficientNet initialisers.
CONV_INIT = nn.initializers.variance_scaling(2.0, "fan_out", "normal")
DENSE_INIT = nn.initializers.variance_scaling(1.0 / 3.0, "fan_out", "uniform")


def round_filters(filters: int, width: float, divisor: int = 8) -> int:
    """Channels scaled by ``width``, rounded to a multiple of ``divisor`` (never down by > 10%)."""
    scaled = filters * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * scaled:
        rounded += divisor
    return int(rounded)


def stage_plan(width: float, depth: float) -> list[Stage]:
    """The seven stages with Lite's scaling: first/last repeats and the stem input fixed."""
    plan = []
    for index, stage in enumerate(STAGES):
        fixed = index in (0, len(STAGES) - 1)
        plan.append(dataclasses.replace(
            stage,
            repeats=stage.repeats if fixed else int(math.ceil(depth * stage.repeats)),
            in_filters=STEM_FILTERS if index == 0 else round_filters(stage.in_filters, width),
            out_filters=round_filters(stage.out_filters, width),
        ))
    return plan


def block_names(index: int) -> list[str]:
    """Keras-style names ``block1a``, ``block2a``, ``block2b``, ... of every block of Lite{index}."""
    width, depth, _, _ = LITE_PARAMS[index]
    return [f"block{s}{chr(ord('a') + r)}" for s, stage in enumerate(stage_plan(width, depth), start=1)
            for r in range(stage.repeats)]


def has_shortcut(stage: Stage, repeat: int) -> bool:
    """Whether repeat ``repeat`` of ``stage`` adds its input back (stride 1, channels in == out)."""
    stride = stage.stride if repeat == 0 else 1
    in_filters = stage.in_filters if repeat == 0 else stage.out_filters
    return stride == 1 and in_filters == stage.out_filters


def block_drop_path_rates(index: int, drop_path_rate: float) -> dict[str, float]:
    """{block name: stochastic-depth rate} of the blocks with a shortcut, in order.

    The linear ramp runs over all blocks (see the module docstring); blocks
    without a shortcut have no residual branch to drop and are left out.
    """
    if index not in LITE_PARAMS:
        raise ValueError(f"EfficientNet-Lite index must be one of {sorted(LITE_PARAMS)}, got {index}.")
    width, depth, _, _ = LITE_PARAMS[index]
    blocks = [(s, stage, r) for s, stage in enumerate(stage_plan(width, depth), start=1)
              for r in range(stage.repeats)]
    rates = linear_drop_path_rates(drop_path_rate, len(blocks))
    return {f"block{s}{chr(ord('a') + r)}": rate for (s, stage, r), rate in zip(blocks, rates)
            if has_shortcut(stage, r)}


@register("efficientnet_lite0", index=0)
@register("efficientnet_lite1", index=1)
@register("efficientnet_lite2", index=2)
@register("efficientnet_lite3", index=3)
@register("efficientnet_lite4", index=4)
class EfficientNetLite(nn.Module):
    """EfficientNet-Lite backbone/classifier (see the module docstring).

    include_top: avg_pool -> dropout -> predictions, float32 logits
    ``(B, num_classes)``. Otherwise ``pooling=None`` returns the ``top``
    feature map ``(B, H/32, W/32, 1280)``; 'avg'/'max' return ``(B, 1280)``.
    ``dropout_rate=None`` takes the variant's own (0.2 or 0.3).
    """

    index: int = 0
    num_classes: int = 1000
    include_top: bool = True
    pooling: str | None = None
    dropout_rate: float | None = None
    drop_path_rate: float = 0.0  # stochastic depth of the last block (0: off); see the module docstring
    dtype: Any = jnp.float32

    def __post_init__(self):
        if self.index not in LITE_PARAMS:
            raise ValueError(f"EfficientNet-Lite index must be one of {sorted(LITE_PARAMS)}, got {self.index}.")
        check_num_classes(self.num_classes)
        check_pooling(self.pooling)
        if self.dropout_rate is not None and not 0.0 <= self.dropout_rate < 1.0:
            raise ValueError(f"dropout_rate must be in [0, 1), got {self.dropout_rate}.")
        check_drop_path_rate(self.drop_path_rate)
        super().__post_init__()

    @nn.compact
    def __call__(self, x, train: bool = False):  # (B, H, W, 3)
        check_image_batch(x, f"efficientnet_lite{self.index}", min_size=32)
        width, depth, _, default_dropout = LITE_PARAMS[self.index]
        drop_rates = block_drop_path_rates(self.index, self.drop_path_rate)

        def conv(y, features, kernel, stride, name):
            return Conv(features, (kernel, kernel), (stride, stride), padding="SAME", use_bias=False,
                           kernel_init=CONV_INIT, dtype=self.dtype, param_dtype=jnp.float32, name=name)(y)

        def bn(y, name):
            return nn.BatchNorm(use_running_average=not train, momentum=BN_MOMENTUM, epsilon=BN_EPSILON,
                                dtype=self.dtype, param_dtype=jnp.float32, name=name)(y)

        x = jax.nn.relu6(bn(conv(x, STEM_FILTERS, 3, 2, "stem_conv"), "stem_bn"))  # (B, H/2, W/2, 32)
        self.sow("intermediates", "stem", x)
        for s, stage in enumerate(stage_plan(width, depth), start=1):
            for r in range(stage.repeats):
                name = f"block{s}{chr(ord('a') + r)}"
                stride = stage.stride if r == 0 else 1
                inputs = x
                channels = x.shape[-1] * stage.expand
                if stage.expand != 1:
                    x = jax.nn.relu6(bn(conv(x, channels, 1, 1, f"{name}_expand_conv"), f"{name}_expand_bn"))
                x = DepthwiseConv(stage.kernel, stride, kernel_init=CONV_INIT, dtype=self.dtype,
                                  name=f"{name}_dwconv")(x)  # (B, h/stride, w/stride, channels)
                x = jax.nn.relu6(bn(x, f"{name}_bn"))
                x = bn(conv(x, stage.out_filters, 1, 1, f"{name}_project_conv"), f"{name}_project_bn")
                if has_shortcut(stage, r):
                    if drop_rates[name] > 0.0:
                        x = DropPath(drop_rates[name], name=f"{name}_drop_path")(x, deterministic=not train)
                    x = x + inputs
            self.sow("intermediates", f"stage{s}", x)
        x = jax.nn.relu6(bn(conv(x, HEAD_FILTERS, 1, 1, "top_conv"), "top_bn"))  # (B, H/32, W/32, 1280)
        self.sow("intermediates", "top", x)
        if not self.include_top:
            return x if self.pooling is None else global_pool(self.pooling)(x)
        x = GlobalAveragePooling2D(name="avg_pool")(x)  # (B, 1280)
        rate = default_dropout if self.dropout_rate is None else self.dropout_rate
        if rate > 0:
            x = nn.Dropout(rate, deterministic=not train, name="top_dropout")(x)
        x = nn.Dense(self.num_classes, kernel_init=DENSE_INIT, dtype=self.dtype, param_dtype=jnp.float32,
                     name="predictions")(x)
        return x.astype(jnp.float32)
