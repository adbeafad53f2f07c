"""Fully convolutional networks FCN-32s/16s/8s (Long, Shelhamer & Darrell 2015).

``create('fcn8s', num_classes=21, backbone='vgg16')`` returns per-pixel
logits ``(B, H, W, num_classes)`` for any input of at least 32x32, odd sizes
included (67x45 gives 67x45 logits).

Backbones and the features they give the head (stride s: cell i of the map
covers input pixels around s*i + c):
- ``vgg11/13/16/19``: ``block3_pool`` (s=8), ``block4_pool`` (16),
  ``block5_pool`` (32), with c = (s-1)/2 (2x2 'valid' pooling). VGG's dense
  classifier becomes convolutions: ``fc6`` (7x7, ``fc_units``) and ``fc7``
  (1x1), each ReLU + dropout, as in the paper. ``dense_to_conv_kernel``
  reshapes Keras ``fc1``/``fc2`` Dense kernels into these conv kernels.
  ``backbone_width < 1`` or ``backbone_batch_norm=True`` builds the same
  layout (Keras layer names) with fewer channels and/or BatchNorm after
  every conv, for CPU-sized runs; otherwise the backbone is
  ``cnnlab.models.VGG(include_top=False)`` itself, so its parameters under
  ``params['backbone']`` have exactly the tree of a VGG without its top.
- ``resnet18..152``: the stage outputs ``conv3`` (s=8), ``conv4`` (16),
  ``conv5`` (32) of ``cnnlab.models.ResNet(include_top=False)`` (ImageNet
  stem; ``resnet_variant`` 'torch' or 'keras'), with c = 0 (strided 'same'
  convolutions). No fc layers: ``score_fr`` scores conv5 directly.
Backbones start from random weights: ImageNet weight files are not loaded
here (the transfer-learning loaders fill ``params['backbone']``).

Head (layer names of the paper's Caffe nets): ``score_fr`` (1x1 to
classes), ``score_pool4``/``score_pool3`` (1x1 on the skips), all three
zero-initialised as in the paper; upsampling layers ``upscore`` (32s: x32),
``upscore2`` (x2), ``upscore16`` (16s: x16), ``upscore_pool4`` (8s: x2),
``upscore8`` (8s: x8).

Upsampling (``upsample``):
- ``'transpose'``: a bias-free transposed convolution, stride f, kernel 2f
  (VGG alignment) or 2f-1 (ResNet alignment), initialised to bilinear
  interpolation (identity across classes), exactly the paper's
  ``upsample_filt``. Kernels use the Keras/PyTorch layout of a transposed
  convolution, i.e. Flax ``ConvTranspose(transpose_kernel=True)``: shape
  ``(kh, kw, out, in)``, and the layer is the gradient of a convolution with
  that kernel (``out[i*f + a, j*f + b, o] += x[i, j, c] * k[a, b, o, c]``).
  A Keras ``Conv2DTranspose`` kernel loads as is; a PyTorch
  ``ConvTranspose2d`` weight ``(in, out, kh, kw)`` loads through
  ``kernel_from_torch``. To keep the bilinear weights fixed, freeze them in
  the optimizer: ``config.optim.freeze = ('upscore.*',)``.
- ``'resize'`` (the ablation): bilinear resampling
  (``jax.image.scale_and_translate``) followed by a 3x3 convolution
  initialised to the identity, so both modes start as plain bilinear
  upsampling and differ only in what they can learn.

Alignment for any input size: every map keeps its geometric grid (stride,
centre offset). Each upsampling maps output cell j of the target grid to
input coordinate u = (j + delta) / f exactly; the transposed convolution pads
its input by replicating edge cells and crops its output at the matching
offset, so at initialisation it equals ``scale_and_translate`` bilinear
resampling (edge-clamped) everywhere, and no cropping depends on the input
being a multiple of 32.
"""
import math
from typing import Any

import jax
import jax.numpy as jnp
import flax.linen as nn
import numpy as np

from cnnlab.models.layers import Conv, MaxPooling2D, check_image_batch, check_num_classes
from cnnlab.models.registry import register
from cnnlab.models.resnet import RESNET_LAYOUTS, ResNet
from cnnlab.models.vgg import GLOROT, VGG, VGG_STAGE_DEPTHS, VGG_STAGE_WIDTHS
from cnnlab.ops.conv import conv_general_dilated
from cnnlab.ops.conv_transpose import conv_transpose as ops_conv_transpose

VARIANTS = ("32s", "16s", "8s")
UPSAMPLE_MODES = ("transpose", "resize")
VGG_BACKBONES = {f"vgg{d}": d for d in VGG_STAGE_DEPTHS}
RESNET_BACKBONES = {f"resnet{d}": d for d in RESNET_LAYOUTS}
SKIP_STRIDES = (8, 16, 32)  # pool3/conv3, pool4/conv4, pool5/conv5


# ----------------------------------------------------------------------------
# Kernels.


def bilinear_filter(size: int) -> np.ndarray:
    """The (size, size) bilinear interpolation filter of the FCN paper.

    factor f = ceil(size / 2), centre (size - 1) / 2, weight
    (1 - |y - centre| / f) (1 - |x - centre| / f). Size 2f upsamples by f
    between grids offset by half a cell; size 2f-1 between aligned grids.
    """
    if size < 1:
        raise ValueError(f"bilinear filter size must be >= 1, got {size}.")
    factor = (size + 1) // 2
    centre = (size - 1) / 2.0
    taps = 1.0 - np.abs(np.arange(size) - centre) / factor  # (size,)
    return np.outer(taps, taps).astype(np.float32)


def bilinear_init(key, shape, dtype=jnp.float32):
    """Initialiser for a (kh, kw, out, in) transposed-conv kernel: bilinear per class.

    Channel c maps to channel c only (out == in is required), so the layer
    upsamples every class score map independently. ``key`` is unused.
    """
    kh, kw, out_ch, in_ch = shape
    if kh != kw or out_ch != in_ch:
        raise ValueError(f"bilinear_init needs a square kernel with out == in channels, got {shape}.")
    kernel = bilinear_filter(kh)[:, :, None, None] * np.eye(out_ch, dtype=np.float32)
    return jnp.asarray(kernel, dtype)


def identity_conv_init(key, shape, dtype=jnp.float32):
    """Initialiser for a (kh, kw, in, out) conv kernel that passes its input through."""
    kh, kw, in_ch, out_ch = shape
    if in_ch != out_ch or kh % 2 == 0 or kw % 2 == 0:
        raise ValueError(f"identity_conv_init needs odd kernels with in == out channels, got {shape}.")
    kernel = np.zeros(shape, np.float32)
    kernel[kh // 2, kw // 2] = np.eye(in_ch, dtype=np.float32)
    return jnp.asarray(kernel, dtype)


def kernel_from_torch(weight) -> np.ndarray:
    """PyTorch ConvTranspose2d weight (in, out, kh, kw) -> cnnlab/Keras (kh, kw, out, in)."""
    weight = np.asarray(weight)
    if weight.ndim != 4:
        raise ValueError(f"a ConvTranspose2d weight is 4-D (in, out, kh, kw), got shape {weight.shape}.")
    return np.transpose(weight, (2, 3, 1, 0))


def kernel_to_torch(kernel) -> np.ndarray:
    """cnnlab/Keras transposed-conv kernel (kh, kw, out, in) -> PyTorch (in, out, kh, kw)."""
    kernel = np.asarray(kernel)
    if kernel.ndim != 4:
        raise ValueError(f"a transposed-conv kernel is 4-D (kh, kw, out, in), got shape {kernel.shape}.")
    return np.transpose(kernel, (3, 2, 0, 1))


def dense_to_conv_kernel(dense_kernel, spatial: tuple[int, int]) -> np.ndarray:
    """A Dense kernel over a flattened (h, w, C) NHWC map -> the (h, w, C, units) conv kernel.

    Keras ``Flatten`` on NHWC is row-major over (h, w, C), so VGG16's ``fc1``
    kernel (25088, 4096) becomes ``fc6``'s (7, 7, 512, 4096); ``fc2``
    (4096, 4096) becomes ``fc7``'s (1, 1, 4096, 4096) with spatial=(1, 1).
    """
    dense_kernel = np.asarray(dense_kernel)
    h, w = spatial
    rows = dense_kernel.shape[0]
    if dense_kernel.ndim != 2 or rows % (h * w):
        raise ValueError(f"dense kernel {dense_kernel.shape} does not flatten a {h}x{w}xC map.")
    return dense_kernel.reshape(h, w, rows // (h * w), dense_kernel.shape[1])


def conv_transpose(x, kernel, stride: int):
    """Keras ``Conv2DTranspose`` / PyTorch ``ConvTranspose2d`` with 'valid' padding, no bias.

    x (B, h, w, C_in), kernel (kh, kw, C_out, C_in) -> (B, (h-1)*stride + kh,
    (w-1)*stride + kw, C_out), with out[i*stride + a, j*stride + b, o] +=
    x[i, j, c] * kernel[a, b, o, c]: the gradient of a convolution by that
    kernel, which is what both frameworks compute.
    """
    if kernel.ndim != 4 or kernel.shape[3] != x.shape[-1]:
        raise ValueError(f"transposed-conv kernel must be (kh, kw, out, in={x.shape[-1]}), got {kernel.shape}.")
    return ops_conv_transpose(x, kernel, stride, "VALID", transpose_kernel=True)  # sub-pixel form, same numbers


# ----------------------------------------------------------------------------
# Alignment of one upsampling step.


def upsample_geometry(in_size: int, out_size: int, factor: int, delta: float) -> dict:
    """Kernel size, edge padding and crop offset of a transposed-conv upsampling.

    Output cell j must read input coordinate u = (j + delta) / factor. A
    kernel of size k puts input cell i's peak at output i*factor + (k-1)/2,
    so j sits at transposed-conv output j + delta + (k-1)/2 (+ factor per
    cell of edge padding). k is 2*factor when that is an integer, else
    2*factor - 1. The padding is the least that gives every output cell both
    of the input cells it interpolates.
    """
    if factor < 1 or in_size < 1 or out_size < 1:
        raise ValueError(f"bad upsampling factor={factor}, in_size={in_size}, out_size={out_size}.")
    kernel = 2 * factor
    offset = delta + (kernel - 1) / 2.0
    if abs(offset - round(offset)) > 1e-9:
        kernel -= 1
        offset = delta + (kernel - 1) / 2.0
    if abs(offset - round(offset)) > 1e-9:
        raise ValueError(f"upsampling offset delta={delta} is not on the half-cell grid.")
    offset = int(round(offset))
    # Output j interpolates input cells floor(u) and floor(u) + 1 with u = (j + delta) / factor;
    # edge-replicated cells must supply both for j = 0 and j = out_size - 1.
    first = delta / factor
    last = (out_size - 1 + delta) / factor
    pad = max(0, math.ceil(-first), math.floor(last) + 2 - in_size)
    return {"kernel": kernel, "pad": pad, "start": offset + pad * factor}


def resize_translation(factor: int, delta: float) -> float:
    """``scale_and_translate`` translation giving u = (j + delta) / factor at output j."""
    return 0.5 - 0.5 * factor - delta


def bilinear_resample(x, out_hw: tuple[int, int], factor: int, delta: float):
    """Bilinear upsampling of (B, h, w, C) by ``factor`` onto the aligned (B, H, W, C) grid.

    Output cell j reads input coordinate u = (j + delta) / factor; beyond the
    outer cell centres the edge cell is repeated (the input is edge-padded
    first, as in the transposed convolution, so both agree everywhere).
    """
    pad_h = upsample_geometry(x.shape[1], out_hw[0], factor, delta)["pad"]
    pad_w = upsample_geometry(x.shape[2], out_hw[1], factor, delta)["pad"]
    x = jnp.pad(x, ((0, 0), (pad_h, pad_h), (pad_w, pad_w), (0, 0)), mode="edge")
    t = resize_translation(factor, delta)
    shape = (x.shape[0], out_hw[0], out_hw[1], x.shape[3])
    translation = jnp.array([t - pad_h * factor, t - pad_w * factor], jnp.float32)
    return jax.image.scale_and_translate(
        x, shape, (1, 2), jnp.array([factor, factor], jnp.float32), translation,
        method="linear", antialias=False)


class Upsample(nn.Module):
    """Learnable x``factor`` upsampling of class scores onto an aligned grid.

    mode 'transpose': bilinear-initialised transposed conv (param ``kernel``
    (k, k, C, C) in the Keras/PyTorch layout, see the module docstring);
    mode 'resize': bilinear resampling then a 3x3 identity-initialised conv
    (params ``kernel`` (3, 3, C, C)). No bias in either.
    """

    factor: int
    delta: float
    mode: str = "transpose"
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, out_hw: tuple[int, int]):  # (B, h, w, C) -> (B, H, W, C)
        channels = x.shape[-1]
        if self.mode == "resize":
            x = bilinear_resample(x.astype(jnp.float32), out_hw, self.factor, self.delta)
            kernel = self.param("kernel", identity_conv_init, (3, 3, channels, channels), jnp.float32)
            x, kernel = nn.dtypes.promote_dtype(x, kernel, dtype=self.dtype)
            return conv_general_dilated(x, kernel, (1, 1), "SAME",
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"))
        geo = upsample_geometry(x.shape[1], out_hw[0], self.factor, self.delta)
        geo_w = upsample_geometry(x.shape[2], out_hw[1], self.factor, self.delta)
        k = geo["kernel"]
        kernel = self.param("kernel", bilinear_init, (k, k, channels, channels), jnp.float32)
        pads = ((0, 0), (geo["pad"], geo["pad"]), (geo_w["pad"], geo_w["pad"]), (0, 0))
        x = jnp.pad(x, pads, mode="edge")
        x, kernel = nn.dtypes.promote_dtype(x, kernel, dtype=self.dtype)
        y = conv_transpose(x, kernel, self.factor)
        return y[:, geo["start"]:geo["start"] + out_hw[0], geo_w["start"]:geo_w["start"] + out_hw[1]]


# ----------------------------------------------------------------------------
# Backbones.


class ScaledVGG(nn.Module):
    """VGG's conv layout and Keras layer names with ``width`` x channels and optional BatchNorm.

    Returns {'block3_pool', 'block4_pool', 'block5_pool'} maps (strides 8, 16, 32).
    BatchNorm layers are named ``block{s}_bn{i}``.
    """

    depth: int = 16
    width: float = 1.0
    batch_norm: bool = False
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, train: bool = False):  # (B, H, W, 3)
        taps = {}
        for stage, (convs, full) in enumerate(zip(VGG_STAGE_DEPTHS[self.depth], VGG_STAGE_WIDTHS), 1):
            channels = max(1, int(round(full * self.width)))
            for i in range(1, convs + 1):
                x = Conv(channels, (3, 3), padding="SAME", kernel_init=GLOROT, use_bias=not self.batch_norm,
                            dtype=self.dtype, param_dtype=jnp.float32, name=f"block{stage}_conv{i}")(x)
                if self.batch_norm:
                    x = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                                     dtype=self.dtype, param_dtype=jnp.float32, name=f"block{stage}_bn{i}")(x)
                x = nn.relu(x)
            x = MaxPooling2D(2, name=f"block{stage}_pool")(x)  # (B, H/2^stage, W/2^stage, channels)
            if stage >= 3:
                taps[f"block{stage}_pool"] = x
        return taps


def tapped_call(module: nn.Module, names: tuple[str, ...], *args, **kwargs) -> dict:
    """Calls ``module`` and returns the outputs of its submodules named ``names``.

    Uses ``nn.intercept_methods``, so the backbone stays an unmodified
    submodule (its parameter tree is the standalone model's).
    """
    found = {}

    def interceptor(next_fun, fargs, fkwargs, context):
        out = next_fun(*fargs, **fkwargs)
        if context.method_name == "__call__" and context.module.name in names \
                and context.module.name not in found:
            found[context.module.name] = out
        return out

    with nn.intercept_methods(interceptor):
        module(*args, **kwargs)
    missing = [n for n in names if n not in found]
    if missing:
        raise ValueError(f"backbone {type(module).__name__} has no layer(s) {missing}.")
    return found


def resnet_stage_outputs(depth: int) -> tuple[str, str, str]:
    """Layer names of ResNet's conv3, conv4, conv5 stage outputs (strides 8, 16, 32)."""
    blocks = RESNET_LAYOUTS[depth][1]
    return tuple(f"conv{k}_block{blocks[k - 2]}_out" for k in (3, 4, 5))


# ----------------------------------------------------------------------------
# The network.


@register("fcn32s", variant="32s")
@register("fcn16s", variant="16s")
@register("fcn8s", variant="8s")
class FCN(nn.Module):
    """FCN-32s/16s/8s; returns float32 logits (B, H, W, num_classes). See the module docstring.

    Attributes:
      num_classes: classes per pixel (background included).
      variant: '32s', '16s' or '8s' (fixed by the registered names).
      backbone: 'vgg11'..'vgg19' or 'resnet18'..'resnet152'.
      backbone_width: VGG channel multiplier (1.0 = the real VGG).
      backbone_batch_norm: VGG with BatchNorm after every conv (trains from
        scratch more easily).
      resnet_variant: 'torch' or 'keras' conventions for ResNet backbones.
      fc_units, fc6_kernel: width and kernel of the VGG fc6/fc7 convolutions.
      dropout_rate: dropout after fc6 and fc7 (0.5 in the paper).
      upsample: 'transpose' or 'resize'.
    """

    num_classes: int = 21
    variant: str = "8s"
    backbone: str = "vgg16"
    backbone_width: float = 1.0
    backbone_batch_norm: bool = False
    resnet_variant: str = "torch"
    fc_units: int = 4096
    fc6_kernel: int = 7
    dropout_rate: float = 0.5
    upsample: str = "transpose"
    dtype: Any = jnp.float32

    def __post_init__(self):
        check_num_classes(self.num_classes)
        if self.variant not in VARIANTS:
            raise ValueError(f"FCN variant must be one of {VARIANTS}, got {self.variant!r}.")
        if self.backbone not in VGG_BACKBONES and self.backbone not in RESNET_BACKBONES:
            raise ValueError(f"FCN backbone {self.backbone!r} is not known; choose one of "
                             f"{sorted(VGG_BACKBONES) + sorted(RESNET_BACKBONES)}.")
        if self.upsample not in UPSAMPLE_MODES:
            raise ValueError(f"FCN upsample must be one of {UPSAMPLE_MODES}, got {self.upsample!r}.")
        if not 0.0 < self.backbone_width <= 1.0:
            raise ValueError(f"backbone_width must lie in (0, 1], got {self.backbone_width}.")
        if self.backbone in RESNET_BACKBONES and (self.backbone_width != 1.0 or self.backbone_batch_norm):
            raise ValueError("backbone_width and backbone_batch_norm apply to VGG backbones only; "
                             "pick resnet18 for a small ResNet.")
        if not 0.0 <= self.dropout_rate < 1.0:
            raise ValueError(f"dropout_rate must be in [0, 1), got {self.dropout_rate}.")
        if self.fc_units < 1 or self.fc6_kernel < 1:
            raise ValueError(f"fc_units and fc6_kernel must be positive, got {self.fc_units}, {self.fc6_kernel}.")
        super().__post_init__()

    def _skips(self, x, train):
        """[(map, stride, centre offset)] for strides 8, 16, 32."""
        if self.backbone in VGG_BACKBONES:
            depth = VGG_BACKBONES[self.backbone]
            names = ("block3_pool", "block4_pool", "block5_pool")
            if self.backbone_width == 1.0 and not self.backbone_batch_norm:
                net = VGG(depth=depth, include_top=False, dtype=self.dtype, name="backbone")
                maps = tapped_call(net, names, x, train=train)
            else:
                maps = ScaledVGG(depth, self.backbone_width, self.backbone_batch_norm, self.dtype,
                                 name="backbone")(x, train=train)
            return [(maps[n], s, (s - 1) / 2.0) for n, s in zip(names, SKIP_STRIDES)]
        depth = RESNET_BACKBONES[self.backbone]
        names = resnet_stage_outputs(depth)
        net = ResNet(depth=depth, include_top=False, variant=self.resnet_variant, dtype=self.dtype,
                     name="backbone")
        maps = tapped_call(net, names, x, train=train)
        return [(maps[n], s, 0.0) for n, s in zip(names, SKIP_STRIDES)]

    @nn.compact
    def __call__(self, x, train: bool = False):  # (B, H, W, C)
        check_image_batch(x, f"fcn{self.variant}", min_size=32)
        height, width = x.shape[1], x.shape[2]
        (pool3, s3, c3), (pool4, s4, c4), (pool5, s5, c5) = self._skips(x, train)
        centre_in = 0.0  # input pixel j sits at j: stride 1, offset 0

        def score(y, name):  # zero-initialised 1x1 class scores, as in the paper
            return Conv(self.num_classes, (1, 1), kernel_init=nn.initializers.zeros,
                           dtype=self.dtype, param_dtype=jnp.float32, name=name)(y)

        def up(y, src_stride, src_centre, dst_stride, dst_centre, out_hw, name):
            factor = src_stride // dst_stride
            delta = (dst_centre - src_centre) / dst_stride
            return Upsample(factor, delta, self.upsample, self.dtype, name=name)(y, out_hw)

        y = pool5
        if self.backbone in VGG_BACKBONES:
            k = self.fc6_kernel
            for name, kernel in (("fc6", (k, k)), ("fc7", (1, 1))):
                y = Conv(self.fc_units, kernel, padding="SAME", kernel_init=GLOROT, dtype=self.dtype,
                            param_dtype=jnp.float32, name=name)(y)
                y = nn.relu(y)
                if self.dropout_rate > 0:
                    y = nn.Dropout(self.dropout_rate, deterministic=not train, name=f"{name}_dropout")(y)
        y = score(y, "score_fr")  # (B, H/32, W/32, K)
        full = (height, width)
        if self.variant == "32s":
            y = up(y, s5, c5, 1, centre_in, full, "upscore")
        elif self.variant == "16s":
            y = up(y, s5, c5, s4, c4, pool4.shape[1:3], "upscore2") + score(pool4, "score_pool4")
            y = up(y, s4, c4, 1, centre_in, full, "upscore16")
        else:
            y = up(y, s5, c5, s4, c4, pool4.shape[1:3], "upscore2") + score(pool4, "score_pool4")
            y = up(y, s4, c4, s3, c3, pool3.shape[1:3], "upscore_pool4") + score(pool3, "score_pool3")
            y = up(y, s3, c3, 1, centre_in, full, "upscore8")
        return y.astype(jnp.float32)  # (B, H, W, K)


__all__ = ["FCN", "ScaledVGG", "Upsample", "bilinear_filter", "conv_transpose", "bilinear_init", "bilinear_resample",
           "dense_to_conv_kernel", "identity_conv_init", "kernel_from_torch", "kernel_to_torch",
           "resnet_stage_outputs", "tapped_call", "upsample_geometry"]
