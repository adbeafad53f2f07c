"""Small classifiers: a dense baseline and three classic small convnets.

Layer names are the ones Keras gives a fresh ``Sequential`` model
(``conv2d``, ``conv2d_1``, ``max_pooling2d``, ``flatten``, ``dense``,
``dropout``, ...) except the last layer, which is always ``predictions``,
so Keras-trained weights map by name and heads can be swapped by one name.
Convolutions default to 'valid' padding like Keras; kernels use Keras's
glorot-uniform initialiser. Every model returns float32 logits
``(B, num_classes)``; ``dtype`` is the compute dtype (params stay float32).
"""
from typing import Any, Sequence

import jax.numpy as jnp
import flax.linen as nn

from cnnlab.models.layers import (
    Conv, Flatten, MaxPooling2D, check_image_batch, check_num_classes, keras_auto_name,
)
from cnnlab.models.registry import register

GLOROT = nn.initializers.glorot_uniform()


class _KerasNames:
    """Hands out Keras auto names per layer kind: conv2d, conv2d_1, ..."""

    def __init__(self):
        self._counts: dict[str, int] = {}

    def __call__(self, base: str) -> str:
        index = self._counts.get(base, 0)
        self._counts[base] = index + 1
        return keras_auto_name(base, index)


def _conv(names, features, kernel, padding, dtype):
    return Conv(features, (kernel, kernel), padding=padding, kernel_init=GLOROT,
                   dtype=dtype, param_dtype=jnp.float32, name=names("conv2d"))


def _dense(features, dtype, name):
    return nn.Dense(features, kernel_init=GLOROT, dtype=dtype, param_dtype=jnp.float32, name=name)


def _check_rate(rate: float, field: str) -> None:
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"{field} must be in [0, 1), got {rate}.")


@register("dense")
class DenseBaseline(nn.Module):
    """Flatten -> [Dense(w) -> ReLU -> Dropout] for w in hidden -> Dense(num_classes).

    The fully connected baseline for the "dense versus convolutional"
    comparison; takes any (B, ...) input. With 28x28x1 inputs and the default
    hidden=(512, 256) it has 535,818 parameters.
    """

    num_classes: int = 10
    hidden: Sequence[int] = (512, 256)
    dropout_rate: float = 0.2
    dtype: Any = jnp.float32

    def __post_init__(self):
        check_num_classes(self.num_classes)
        _check_rate(self.dropout_rate, "dropout_rate")
        if any(int(w) < 1 for w in self.hidden):
            raise ValueError(f"hidden widths must be positive, got {tuple(self.hidden)}.")
        super().__post_init__()

    @nn.compact
    def __call__(self, x, train: bool = False):  # (B, ...) -> (B, num_classes)
        if x.ndim < 2:
            raise ValueError(f"DenseBaseline expects a batch (B, ...), got shape {tuple(x.shape)}.")
        names = _KerasNames()
        x = Flatten(name="flatten")(x)  # (B, D)
        for width in self.hidden:
            x = nn.relu(_dense(int(width), self.dtype, names("dense"))(x))
            x = nn.Dropout(self.dropout_rate, deterministic=not train, name=names("dropout"))(x)
        x = _dense(self.num_classes, self.dtype, "predictions")(x)
        return x.astype(jnp.float32)


@register("mnist_cnn")
class MnistCNN(nn.Module):
    """The small Keras MNIST convnet (Chollet, Deep Learning with Python 5.1).

    Conv32-3 / pool / Conv64-3 / pool / Conv64-3 / Flatten / Dense64 / Dense.
    On 28x28x1: 55,744 conv parameters, 93,322 in all; needs H, W >= 18.
    """

    num_classes: int = 10
    dtype: Any = jnp.float32

    def __post_init__(self):
        check_num_classes(self.num_classes)
        super().__post_init__()

    @nn.compact
    def __call__(self, x, train: bool = False):  # (B, H, W, C) -> (B, num_classes)
        check_image_batch(x, "mnist_cnn", min_size=18)
        names = _KerasNames()
        x = nn.relu(_conv(names, 32, 3, "VALID", self.dtype)(x))  # (B, 26, 26, 32)
        x = MaxPooling2D(2, name=names("max_pooling2d"))(x)  # (B, 13, 13, 32)
        x = nn.relu(_conv(names, 64, 3, "VALID", self.dtype)(x))  # (B, 11, 11, 64)
        x = MaxPooling2D(2, name=names("max_pooling2d"))(x)  # (B, 5, 5, 64)
        x = nn.relu(_conv(names, 64, 3, "VALID", self.dtype)(x))  # (B, 3, 3, 64)
        x = Flatten(name="flatten")(x)  # (B, 576)
        x = nn.relu(_dense(64, self.dtype, "dense")(x))
        x = _dense(self.num_classes, self.dtype, "predictions")(x)
        return x.astype(jnp.float32)


@register("cifar10_cnn")
class Cifar10CNN(nn.Module):
    """The Keras ``cifar10_cnn.py`` example convnet.

    [Conv32 same, Conv32 valid, pool, dropout], [Conv64 same, Conv64 valid,
    pool, dropout], Flatten, Dense512, dropout, Dense. On 32x32x3: 1,250,858
    parameters; needs H, W >= 10.
    """

    num_classes: int = 10
    conv_dropout: float = 0.25
    dense_dropout: float = 0.5
    dtype: Any = jnp.float32

    def __post_init__(self):
        check_num_classes(self.num_classes)
        _check_rate(self.conv_dropout, "conv_dropout")
        _check_rate(self.dense_dropout, "dense_dropout")
        super().__post_init__()

    @nn.compact
    def __call__(self, x, train: bool = False):  # (B, H, W, C) -> (B, num_classes)
        check_image_batch(x, "cifar10_cnn", min_size=10)
        names = _KerasNames()
        for width in (32, 64):
            x = nn.relu(_conv(names, width, 3, "SAME", self.dtype)(x))
            x = nn.relu(_conv(names, width, 3, "VALID", self.dtype)(x))
            x = MaxPooling2D(2, name=names("max_pooling2d"))(x)
            x = nn.Dropout(self.conv_dropout, deterministic=not train, name=names("dropout"))(x)
        # 32x32 input: (B, 6, 6, 64)
        x = Flatten(name="flatten")(x)  # (B, 2304)
        x = nn.relu(_dense(512, self.dtype, "dense")(x))
        x = nn.Dropout(self.dense_dropout, deterministic=not train, name=names("dropout"))(x)
        x = _dense(self.num_classes, self.dtype, "predictions")(x)
        return x.astype(jnp.float32)


@register("fashion_mnist_cnn")
class FashionMnistCNN(nn.Module):
    """The Fashion-MNIST convnet of Geron's Hands-On ML (chapter 14).

    Conv64-7 same, pool, 2x Conv128-3 same, pool, 2x Conv256-3 same, pool,
    Flatten, Dense128, dropout, Dense64, dropout, Dense. On 28x28x1:
    1,413,834 parameters; needs H, W >= 8.
    """

    num_classes: int = 10
    dropout_rate: float = 0.5
    dtype: Any = jnp.float32

    def __post_init__(self):
        check_num_classes(self.num_classes)
        _check_rate(self.dropout_rate, "dropout_rate")
        super().__post_init__()

    @nn.compact
    def __call__(self, x, train: bool = False):  # (B, H, W, C) -> (B, num_classes)
        check_image_batch(x, "fashion_mnist_cnn", min_size=8)
        names = _KerasNames()
        x = nn.relu(_conv(names, 64, 7, "SAME", self.dtype)(x))  # (B, 28, 28, 64)
        x = MaxPooling2D(2, name=names("max_pooling2d"))(x)  # (B, 14, 14, 64)
        for width in (128, 256):
            x = nn.relu(_conv(names, width, 3, "SAME", self.dtype)(x))
            x = nn.relu(_conv(names, width, 3, "SAME", self.dtype)(x))
            x = MaxPooling2D(2, name=names("max_pooling2d"))(x)
        # 28x28 input: (B, 3, 3, 256)
        x = Flatten(name="flatten")(x)  # (B, 2304)
        for width in (128, 64):
            x = nn.relu(_dense(width, self.dtype, names("dense"))(x))
            x = nn.Dropout(self.dropout_rate, deterministic=not train, name=names("dropout"))(x)
        x = _dense(self.num_classes, self.dtype, "predictions")(x)
        return x.astype(jnp.float32)
