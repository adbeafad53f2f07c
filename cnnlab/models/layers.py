"""Keras-style named layers for Linen models.

Flax keeps padding, pooling, activations and additions as plain functions;
wrapping them in tiny modules gives each one a name (``conv1_pad``,
``block1_pool``, ``conv2_block1_out``, ...), so it shows up as a row in
``cnnlab.summary`` and its output can be tapped with
``capture_intermediates`` exactly like a Keras layer.  ``SeparableConv2D``
keeps Keras's parameter layout (``depthwise_kernel`` (kh, kw, C, m),
``pointwise_kernel`` (1, 1, C*m, F)) so Keras weights map one to one.
``DropPath`` / ``drop_path`` are stochastic depth for residual branches.
"""
import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import flax.linen as nn

from cnnlab.ops import pool
from cnnlab.ops.conv import conv_general_dilated
from cnnlab.ops.conv_transpose import conv_transpose
from cnnlab.ops.depthwise import depthwise_conv2d

Padding = Any  # int | ((top, bottom), (left, right)) | "SAME" | "VALID"

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "relu": nn.relu,
    "gelu": nn.gelu,
    "sigmoid": nn.sigmoid,
    "tanh": jnp.tanh,
    "swish": nn.swish,
    "linear": lambda x: x,
}


# flax's nn.Conv with cnnlab's convolution (`cnnlab.ops.conv.conv_general_dilated`: oneDNN's
# kernels on CPU where they apply, XLA's elsewhere); same parameters, names and numbers.
Conv = functools.partial(nn.Conv, conv_general_dilated=conv_general_dilated)


def keras_auto_name(base: str, index: int) -> str:
    """Keras's automatic layer name in a fresh session: conv2d, conv2d_1, ..."""
    return base if index == 0 else f"{base}_{index}"


def check_image_batch(x: jax.Array, model: str, min_size: int = 1) -> None:
    """Raises ValueError unless ``x`` is an NHWC batch with H, W >= ``min_size``."""
    if x.ndim != 4:
        raise ValueError(
            f"{model} expects an NHWC image batch (B, H, W, C), got shape {tuple(x.shape)}; "
            "add the batch axis (x[None]) or the channel axis (x[..., None])."
        )
    if x.shape[1] < min_size or x.shape[2] < min_size:
        raise ValueError(
            f"{model} needs images of at least {min_size}x{min_size} pixels, got "
            f"{x.shape[1]}x{x.shape[2]}; resize the input or pick a smaller model."
        )


def check_num_classes(num_classes: int) -> None:
    """Raises ValueError unless ``num_classes`` is a positive integer."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}.")


def check_pooling(pooling) -> None:
    """Raises ValueError unless ``pooling`` is None, 'avg' or 'max'."""
    if pooling not in (None, "avg", "max"):
        raise ValueError(f"pooling must be 'avg', 'max' or None, got {pooling!r}.")


def _pad_pairs(padding) -> tuple[tuple[int, int], tuple[int, int]]:
    """int p -> ((p, p), (p, p)); ((t, b), (l, r)) passes through."""
    if isinstance(padding, int):
        return (padding, padding), (padding, padding)
    (top, bottom), (left, right) = padding
    return (int(top), int(bottom)), (int(left), int(right))


class ZeroPadding2D(nn.Module):
    """Pads H and W with zeros, like keras.layers.ZeroPadding2D."""

    padding: Any = 1  # int or ((top, bottom), (left, right))

    @nn.compact
    def __call__(self, x):  # (B, H, W, C) -> (B, H+t+b, W+l+r, C)
        (top, bottom), (left, right) = _pad_pairs(self.padding)
        return jnp.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))


class MaxPooling2D(nn.Module):
    """Max pooling; ``strides`` defaults to ``pool_size`` as in Keras."""

    pool_size: int = 2
    strides: int | None = None
    padding: Padding = "VALID"

    @nn.compact
    def __call__(self, x):  # (B, H, W, C)
        return pool.max_pool(x, self.pool_size, self.strides or self.pool_size, self.padding)


class ConvTranspose(nn.Module):
    """Drop-in for ``flax.linen.ConvTranspose`` (2-D, NHWC) computed as a sub-pixel convolution.

    Same parameters (``kernel`` (kh, kw, C_in, features), or (kh, kw,
    features, C_in) with ``transpose_kernel``; ``bias``), same initialisation
    and same outputs; forward and gradients run as ordinary convolutions,
    which XLA:CPU executes several times faster (`cnnlab.ops.conv_transpose`).
    """

    features: int
    kernel_size: tuple[int, int] = (3, 3)
    strides: tuple[int, int] = (1, 1)
    padding: Padding = "SAME"
    use_bias: bool = True
    transpose_kernel: bool = False
    dtype: Any = None
    param_dtype: Any = jnp.float32
    precision: Any = None
    kernel_init: Callable = nn.initializers.lecun_normal()
    bias_init: Callable = nn.initializers.zeros_init()

    @nn.compact
    def __call__(self, x):  # (B, H, W, C_in) -> (B, H_out, W_out, features)
        if x.ndim != 4:
            raise ValueError(f"ConvTranspose expects (B, H, W, C) inputs, got shape {tuple(x.shape)}.")
        kh, kw = self.kernel_size
        c_in = x.shape[-1]
        shape = (kh, kw, self.features, c_in) if self.transpose_kernel else (kh, kw, c_in, self.features)
        kernel = self.param("kernel", self.kernel_init, shape, self.param_dtype)
        bias = self.param("bias", self.bias_init, (self.features,), self.param_dtype) if self.use_bias else None
        x, kernel, bias = nn.dtypes.promote_dtype(x, kernel, bias, dtype=self.dtype)
        y = conv_transpose(x, kernel, self.strides, self.padding, self.transpose_kernel, self.precision)
        return y if bias is None else y + bias


class GlobalAveragePooling2D(nn.Module):
    """Mean over H and W (accumulated in float32): (B, H, W, C) -> (B, C)."""

    @nn.compact
    def __call__(self, x):
        return jnp.mean(x, axis=(1, 2), dtype=jnp.float32).astype(x.dtype)


class GlobalMaxPooling2D(nn.Module):
    """Max over H and W: (B, H, W, C) -> (B, C)."""

    @nn.compact
    def __call__(self, x):
        return jnp.max(x, axis=(1, 2))


def global_pool(kind: str, name: str | None = None) -> nn.Module:
    """The 'avg' or 'max' global pooling layer, named ``avg_pool``/``max_pool``."""
    if kind == "avg":
        return GlobalAveragePooling2D(name=name or "avg_pool")
    if kind == "max":
        return GlobalMaxPooling2D(name=name or "max_pool")
    raise ValueError(f"pooling must be 'avg', 'max' or None, got {kind!r}.")


class Flatten(nn.Module):
    """(B, ...) -> (B, prod(...)), row-major like Keras on NHWC."""

    @nn.compact
    def __call__(self, x):
        return x.reshape((x.shape[0], -1))


class Activation(nn.Module):
    """A named activation layer (Keras ``Activation('relu', name=...)``)."""

    activation: str = "relu"

    def __post_init__(self):
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"unknown activation {self.activation!r}; choose one of {sorted(ACTIVATIONS)}."
            )
        super().__post_init__()

    @nn.compact
    def __call__(self, x):
        return ACTIVATIONS[self.activation](x)


class Add(nn.Module):
    """Elementwise sum of same-shaped inputs (Keras ``layers.add``)."""

    @nn.compact
    def __call__(self, *xs):
        if len(xs) < 2:
            raise ValueError(f"Add needs at least two inputs, got {len(xs)}.")
        shapes = {tuple(x.shape) for x in xs}
        if len(shapes) != 1:
            raise ValueError(f"Add needs inputs of one shape, got {sorted(shapes)}.")
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


class SeparableConv2D(nn.Module):
    """Depthwise conv (one filter per channel) then a 1x1 pointwise conv.

    Parameters are stored in Keras's layout: ``depthwise_kernel``
    (kh, kw, C, depth_multiplier), ``pointwise_kernel`` (1, 1, C*m, features)
    and an optional ``bias`` (features,).
    """

    features: int
    kernel_size: int = 3
    strides: int = 1
    padding: Padding = "SAME"
    depth_multiplier: int = 1
    use_bias: bool = False
    dtype: Any = None
    param_dtype: Any = jnp.float32
    kernel_init: Callable = nn.initializers.glorot_uniform()
    bias_init: Callable = nn.initializers.zeros

    @nn.compact
    def __call__(self, x):  # (B, H, W, C) -> (B, H', W', features)
        channels = x.shape[-1]
        k, m = self.kernel_size, self.depth_multiplier
        depthwise = self.param(
            "depthwise_kernel", self.kernel_init, (k, k, channels, m), self.param_dtype
        )
        pointwise = self.param(
            "pointwise_kernel", self.kernel_init, (1, 1, channels * m, self.features),
            self.param_dtype,
        )
        bias = (
            self.param("bias", self.bias_init, (self.features,), self.param_dtype)
            if self.use_bias else None
        )
        x, depthwise, pointwise, bias = nn.dtypes.promote_dtype(
            x, depthwise, pointwise, bias, dtype=self.dtype
        )
        padding = self.padding
        if not isinstance(padding, str):
            padding = _pad_pairs(padding)
        # (kh, kw, C, m) -> (kh, kw, 1, C*m): output channel c*m + j is filter j of channel c.
        grouped = depthwise.reshape((k, k, 1, channels * m))
        dimension_numbers = ("NHWC", "HWIO", "NHWC")
        y = conv_general_dilated(
            x, grouped, (self.strides, self.strides), padding,
            dimension_numbers=dimension_numbers, feature_group_count=channels,
        )  # (B, H', W', C*m)
        y = conv_general_dilated(
            y, pointwise, (1, 1), "VALID", dimension_numbers=dimension_numbers
        )  # (B, H', W', features)
        if bias is not None:
            y = y + bias
        return y


class DepthwiseConv(nn.Module):
    """Depthwise convolution with ``nn.Conv(features=C, feature_group_count=C)``'s parameter.

    ``kernel`` (kh, kw, 1, C), no bias; computed by ``cnnlab.ops.depthwise``
    as shifted multiply-adds, which XLA:CPU runs far faster than a grouped
    convolution with one group per channel.
    """

    kernel_size: int = 3
    strides: int = 1
    padding: Padding = "SAME"
    dtype: Any = None
    param_dtype: Any = jnp.float32
    kernel_init: Callable = nn.initializers.lecun_normal()

    @nn.compact
    def __call__(self, x):  # (B, H, W, C) -> (B, H', W', C)
        k = self.kernel_size
        kernel = self.param("kernel", self.kernel_init, (k, k, 1, x.shape[-1]), self.param_dtype)
        x, kernel = nn.dtypes.promote_dtype(x, kernel, dtype=self.dtype)
        return depthwise_conv2d(x, kernel, self.strides, self.padding)


def drop_path(x: jax.Array, rate: float, rng: jax.Array | None = None,
              deterministic: bool = False) -> jax.Array:
    """Stochastic depth, row mode (Huang et al. 2016; timm ``drop_path``).

    Per example (axis 0), zeroes the whole of ``x`` with probability ``rate``
    and scales it by 1 / (1 - rate) otherwise, so its expectation is ``x``.
    Meant for a residual branch before it is added to the shortcut, which
    then passes that example's input through unchanged. Identity when
    ``deterministic`` or ``rate == 0``; ``rng`` is a PRNG key otherwise.
    """
    check_drop_path_rate(rate, "drop_path rate")
    if deterministic or rate == 0.0:
        return x
    if rng is None:
        raise ValueError("drop_path needs a PRNG key when rate > 0 and not deterministic; "
                         "pass rng=jax.random.key(...) (inside a model: rngs={'dropout': key}).")
    keep = 1.0 - float(rate)
    mask = jax.random.bernoulli(rng, keep, (x.shape[0],) + (1,) * (x.ndim - 1))
    return jnp.where(mask, x / jnp.asarray(keep, x.dtype), jnp.zeros((), x.dtype))


def check_drop_path_rate(rate, field: str = "drop_path_rate") -> None:
    """Raises ValueError unless ``rate`` is a number in [0, 1)."""
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0.0 <= rate < 1.0:
        raise ValueError(f"{field} must be a number in [0, 1), got {rate!r}; "
                         "0 turns stochastic depth off, 0.1-0.2 is usual for ResNet-50.")


def linear_drop_path_rates(drop_path_rate: float, num_blocks: int) -> tuple[float, ...]:
    """Per-block rates rising linearly from 0 (first block) to ``drop_path_rate`` (last).

    timm's rule (``linspace(0, drop_path_rate, num_blocks)``): block i of N
    gets drop_path_rate * i / (N - 1). A single block gets 0.
    """
    check_drop_path_rate(drop_path_rate, "drop_path_rate")
    if num_blocks < 1:
        raise ValueError(f"num_blocks must be positive, got {num_blocks}.")
    if num_blocks == 1:
        return (0.0,)
    return tuple(float(drop_path_rate) * i / (num_blocks - 1) for i in range(num_blocks))


class DropPath(nn.Module):
    """``drop_path`` as a layer, drawing its mask from the 'dropout' rng stream.

    Like ``nn.Dropout``: ``deterministic`` as an attribute or call argument
    (``DropPath(0.1)(branch, deterministic=not train)``); no parameters.
    """

    rate: float = 0.0
    deterministic: bool | None = None
    rng_collection: str = "dropout"

    def __post_init__(self):
        check_drop_path_rate(self.rate, "DropPath rate")
        super().__post_init__()

    @nn.compact
    def __call__(self, x, deterministic: bool | None = None):  # (B, ...) -> (B, ...)
        deterministic = nn.merge_param("deterministic", self.deterministic, deterministic)
        if deterministic or self.rate == 0.0:
            return x
        return drop_path(x, self.rate, self.make_rng(self.rng_collection))
