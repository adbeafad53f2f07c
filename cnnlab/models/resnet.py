"""ResNet-18/34/50/101/152 (He et al. 2015) in two numerically faithful variants.

``variant='torch'`` follows torchvision: bias-free convolutions, BatchNorm
epsilon 1e-5 and momentum 0.1 (Flax momentum 0.9), the bottleneck stride on
the 3x3 conv ("ResNet v1.5"), padded 3x3/2 max pool; kaiming fan-out init.
``variant='keras'`` follows ``keras.applications.ResNet50``: biased
convolutions, BatchNorm epsilon 1.001e-5 and momentum 0.99, the bottleneck
stride on the first 1x1 conv and its shortcut (v1), ``ZeroPadding2D(3)`` +
7x7/2 'valid' conv and ``ZeroPadding2D(1)`` + 3x3/2 'valid' max pool, so
Keras ``.h5`` weights reproduce Keras outputs. Both variants use Keras's
layer names (``conv1_pad``, ``conv1_conv``, ``conv1_bn``, ``conv1_relu``,
``pool1_pad``, ``pool1_pool``, ``conv2_block1_1_conv`` .. ``_3_bn``, shortcut
``conv2_block1_0_conv``/``_0_bn``, ``conv2_block1_add``, ``conv2_block1_out``,
..., ``avg_pool``, ``predictions``); the ``_pad`` layers exist only in the
keras variant. Keras ships no ResNet-18/34; their keras variant applies the
same conventions to basic blocks (3x3 convs padded by 1 on each side).

Parameter counts (224x224x3, with the top): torchvision counts trainable
tensors only (BatchNorm running statistics are buffers), i.e. the Flax
``params`` collection: ResNet18 11,689,512; ResNet34 21,797,672;
ResNet50 25,557,032; ResNet101 44,549,160; ResNet152 60,192,808.
Keras counts trainable + non-trainable, i.e. ``params`` + ``batch_stats``:
keras-variant ResNet50 25,636,712 (25,583,592 trainable + 53,120 moving
statistics). ``cnnlab.models.parameter_counts`` returns both figures.

``stem='cifar'`` replaces the ImageNet stem with a 3x3/1 conv (padding 1)
and no max pool, for 32x32 inputs.

Feature taps (``cnnlab.models.features`` names), sown into
``intermediates`` at each stage output, for an H x W input with the
ImageNet stem (the CIFAR stem keeps 2x more resolution; C = 1 for basic
blocks, 4 for bottlenecks): ``conv1`` (H/2, W/2, 64) after the stem ReLU,
``conv2`` (H/4, 64*C), ``conv3`` (H/8, 128*C), ``conv4`` (H/16, 256*C),
``conv5`` (H/32, 512*C); every named layer (``conv4_block6_out``, ...) too.

``drop_path_rate`` > 0 turns on stochastic depth (Huang et al. 2016): in
training each block's residual branch (after its last BatchNorm, before
``_add``) is dropped per example by a ``DropPath`` layer
``conv{s}_block{b}_drop_path``, with rates rising linearly over the blocks
from 0 (first block, which then gets no layer) to ``drop_path_rate`` (last),
timm's ResNet rule; ``block_drop_path_rates`` lists them. The default 0.0
adds no layer, so parameters, layer names and outputs are unchanged.
"""
import dataclasses
from typing import Any, Callable

import jax.numpy as jnp
import flax.linen as nn

from cnnlab.models.layers import (
    Conv, Activation, Add, DropPath, GlobalAveragePooling2D, MaxPooling2D, ZeroPadding2D,
    check_drop_path_rate, check_image_batch, check_num_classes, check_pooling, global_pool,
    linear_drop_path_rates,
)
from cnnlab.models.registry import register

# depth -> (block kind, blocks per stage conv2..conv5)
RESNET_LAYOUTS = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}
STAGE_WIDTHS = (64, 128, 256, 512)
BOTTLENECK_EXPANSION = 4
PAD1 = ((1, 1), (1, 1))


@dataclasses.dataclass(frozen=True)
class ResNetConventions:
    """What differs between the torchvision and Keras ResNets."""

    conv_bias: bool
    bn_epsilon: float
    bn_momentum: float  # Flax convention: running = m * running + (1 - m) * batch
    stride_on_first_1x1: bool  # True: Keras v1; False: torchvision v1.5 (stride on the 3x3)
    zero_padding_layers: bool  # separate ZeroPadding2D layers in the stem (Keras)
    conv_init: Callable
    dense_init: Callable


VARIANTS = {
    "torch": ResNetConventions(
        conv_bias=False, bn_epsilon=1e-5, bn_momentum=0.9, stride_on_first_1x1=False,
        zero_padding_layers=False,
        conv_init=nn.initializers.variance_scaling(2.0, "fan_out", "normal"),
        dense_init=nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform"),
    ),
    "keras": ResNetConventions(
        conv_bias=True, bn_epsilon=1.001e-5, bn_momentum=0.99, stride_on_first_1x1=True,
        zero_padding_layers=True,
        conv_init=nn.initializers.glorot_uniform(),
        dense_init=nn.initializers.glorot_uniform(),
    ),
}
STEMS = ("imagenet", "cifar")


def block_names(depth: int) -> list[str]:
    """Names of every residual block of ResNet-``depth`` in order: conv2_block1, ..., conv5_block3."""
    if depth not in RESNET_LAYOUTS:
        raise ValueError(f"ResNet depth must be one of {sorted(RESNET_LAYOUTS)}, got {depth}.")
    _, blocks_per_stage = RESNET_LAYOUTS[depth]
    return [f"conv{stage + 2}_block{b + 1}" for stage, blocks in enumerate(blocks_per_stage)
            for b in range(blocks)]


def block_drop_path_rates(depth: int, drop_path_rate: float) -> dict[str, float]:
    """{block name: stochastic-depth rate} of every block, the linear ramp 0 .. drop_path_rate."""
    names = block_names(depth)
    return dict(zip(names, linear_drop_path_rates(drop_path_rate, len(names))))


@register("resnet18", depth=18)
@register("resnet34", depth=34)
@register("resnet50", depth=50)
@register("resnet101", depth=101)
@register("resnet152", depth=152)
class ResNet(nn.Module):
    """ResNet backbone/classifier (see the module docstring for variants and taps).

    include_top: avg_pool -> predictions, float32 logits ``(B, num_classes)``
    (Keras applies softmax inside ``predictions``; here it is left to the loss).
    Otherwise ``pooling=None`` returns the conv5 map ``(B, h, w, C)``;
    'avg'/'max' return ``(B, C)``.
    """

    depth: int = 50
    num_classes: int = 1000
    include_top: bool = True
    pooling: str | None = None
    variant: str = "torch"
    stem: str = "imagenet"
    width: int = 64  # stem and first-stage channels; stages use width * (1, 2, 4, 8)
    drop_path_rate: float = 0.0  # stochastic depth of the last block (0: off); see the module docstring
    dtype: Any = jnp.float32

    def __post_init__(self):
        if self.width < 1:
            raise ValueError(f"ResNet width must be positive, got {self.width}.")
        if self.depth not in RESNET_LAYOUTS:
            raise ValueError(
                f"ResNet depth must be one of {sorted(RESNET_LAYOUTS)}, got {self.depth}."
            )
        if self.variant not in VARIANTS:
            raise ValueError(
                f"ResNet variant must be one of {sorted(VARIANTS)}, got {self.variant!r}."
            )
        if self.stem not in STEMS:
            raise ValueError(f"ResNet stem must be one of {STEMS}, got {self.stem!r}.")
        check_num_classes(self.num_classes)
        check_pooling(self.pooling)
        check_drop_path_rate(self.drop_path_rate)
        super().__post_init__()

    @nn.compact
    def __call__(self, x, train: bool = False):  # (B, H, W, 3)
        check_image_batch(x, f"resnet{self.depth}")
        rules = VARIANTS[self.variant]
        drop_rates = block_drop_path_rates(self.depth, self.drop_path_rate)

        def residual(y, name):  # the residual branch, dropped per example in training
            rate = drop_rates[name]
            if rate == 0.0:
                return y
            return DropPath(rate, name=f"{name}_drop_path")(y, deterministic=not train)

        def conv(y, features, kernel, stride, padding, name):
            return Conv(features, (kernel, kernel), (stride, stride), padding=padding,
                           use_bias=rules.conv_bias, kernel_init=rules.conv_init,
                           dtype=self.dtype, param_dtype=jnp.float32, name=name)(y)

        def bn(y, name):
            return nn.BatchNorm(use_running_average=not train, momentum=rules.bn_momentum,
                                epsilon=rules.bn_epsilon, dtype=self.dtype,
                                param_dtype=jnp.float32, name=name)(y)

        def shortcut(y, features, stride, name):
            if stride == 1 and y.shape[-1] == features:
                return y
            return bn(conv(y, features, 1, stride, "VALID", f"{name}_0_conv"), f"{name}_0_bn")

        def basic_block(y, width, stride, name):
            short = shortcut(y, width, stride, name)
            y = conv(y, width, 3, stride, PAD1, f"{name}_1_conv")
            y = Activation("relu", name=f"{name}_1_relu")(bn(y, f"{name}_1_bn"))
            y = residual(bn(conv(y, width, 3, 1, PAD1, f"{name}_2_conv"), f"{name}_2_bn"), name)
            return Activation("relu", name=f"{name}_out")(Add(name=f"{name}_add")(short, y))

        def bottleneck_block(y, width, stride, name):
            out = BOTTLENECK_EXPANSION * width
            short = shortcut(y, out, stride, name)
            s1, s3 = (stride, 1) if rules.stride_on_first_1x1 else (1, stride)
            y = conv(y, width, 1, s1, "VALID", f"{name}_1_conv")
            y = Activation("relu", name=f"{name}_1_relu")(bn(y, f"{name}_1_bn"))
            y = conv(y, width, 3, s3, PAD1, f"{name}_2_conv")
            y = Activation("relu", name=f"{name}_2_relu")(bn(y, f"{name}_2_bn"))
            y = residual(bn(conv(y, out, 1, 1, "VALID", f"{name}_3_conv"), f"{name}_3_bn"), name)
            return Activation("relu", name=f"{name}_out")(Add(name=f"{name}_add")(short, y))

        # Stem.
        if self.stem == "cifar":
            x = conv(x, self.width, 3, 1, PAD1, "conv1_conv")  # (B, H, W, 64)
        elif rules.zero_padding_layers:
            x = ZeroPadding2D(3, name="conv1_pad")(x)  # (B, H+6, W+6, 3)
            x = conv(x, self.width, 7, 2, "VALID", "conv1_conv")  # (B, H/2, W/2, 64)
        else:
            x = conv(x, self.width, 7, 2, ((3, 3), (3, 3)), "conv1_conv")  # (B, H/2, W/2, 64)
        x = Activation("relu", name="conv1_relu")(bn(x, "conv1_bn"))
        self.sow("intermediates", "conv1", x)
        if self.stem == "imagenet":
            if rules.zero_padding_layers:  # zeros never win: the input is post-ReLU
                x = ZeroPadding2D(1, name="pool1_pad")(x)
                x = MaxPooling2D(3, 2, name="pool1_pool")(x)  # (B, H/4, W/4, 64)
            else:
                x = MaxPooling2D(3, 2, padding=PAD1, name="pool1_pool")(x)  # (B, H/4, W/4, 64)

        kind, blocks_per_stage = RESNET_LAYOUTS[self.depth]
        block = basic_block if kind == "basic" else bottleneck_block
        widths = [w * self.width // 64 for w in STAGE_WIDTHS]
        for index, (blocks, width) in enumerate(zip(blocks_per_stage, widths)):
            stage = f"conv{index + 2}"
            for b in range(blocks):
                stride = 2 if index > 0 and b == 0 else 1
                x = block(x, width, stride, f"{stage}_block{b + 1}")
            self.sow("intermediates", stage, x)  # (B, H/2^(index+2), W/.., width*C)

        if self.include_top:
            x = GlobalAveragePooling2D(name="avg_pool")(x)  # (B, C)
            x = nn.Dense(self.num_classes, kernel_init=rules.dense_init, dtype=self.dtype,
                         param_dtype=jnp.float32, name="predictions")(x)
            return x.astype(jnp.float32)
        return x if self.pooling is None else global_pool(self.pooling)(x)
