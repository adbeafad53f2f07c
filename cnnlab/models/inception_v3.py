"""Inception-v3 (Szegedy et al. 2015) laid out exactly like ``keras.applications.InceptionV3``.

The network is written down once, as data: ``STEM`` and the eleven
``MIXED`` blocks (each a tuple of parallel branches, concatenated in
Keras's channel order), expanded by ``inception_v3_layers`` into the list
of Keras layers in the order Keras creates them. ``InceptionV3`` runs that
list, and ``cnnlab.pretrained.name_maps`` sorts it into Keras's
(topological) weight-file order, so model and weight table cannot drift
apart.

Every convolution is Keras's ``conv2d_bn``: a bias-free conv, BatchNorm
without scale (``scale=False``: beta and the moving statistics only;
epsilon 1e-3, momentum 0.99) and a ReLU. Paddings are Keras's ('valid' in
the stem and the two grid reductions mixed3 / mixed8, 'same' elsewhere);
the pooling branches use a 3x3/1 'same' average pool that divides by the
number of real pixels under the window (padding is not counted, as in
Keras) and 3x3/2 'valid' max pools.

Keras names only the ``mixed0`` .. ``mixed10`` concatenations (and
``mixed9_0`` / ``mixed9_1``), ``avg_pool`` and ``predictions``; the other
layers get the names a fresh Keras session gives them, in creation order,
and cnnlab uses the same names: ``conv2d``, ``conv2d_1``, .., ``conv2d_93``,
``batch_normalization`` .. ``batch_normalization_93``, ``activation`` ..
``activation_93``, ``max_pooling2d`` .. ``max_pooling2d_3``,
``average_pooling2d`` .. ``average_pooling2d_8``, ``concatenate``,
``concatenate_1``. Without the top, ``pooling='avg'|'max'`` adds
``global_average_pooling2d`` / ``global_max_pooling2d`` (Keras's names).

With the top at 299x299x3: 23,851,784 parameters as Keras counts them
(23,817,352 trainable + 34,432 BatchNorm moving statistics).
Inputs must be at least 75x75 (as in Keras).

Feature taps (``cnnlab.models.features`` names) are the Keras layer names,
in particular the stem output ``max_pooling2d_1`` and the block outputs,
for a 299x299 input: ``max_pooling2d_1`` (35x35, 192), ``mixed0`` ..
``mixed2`` (35x35; 256, 288, 288 channels), ``mixed3`` .. ``mixed7``
(17x17, 768), ``mixed8`` .. ``mixed10`` (8x8; 1280, 2048, 2048); 139x139
gives 15, 7 and 3 pixels, 75x75 gives 7, 3 and 1.
"""
import dataclasses
from typing import Any

import jax.numpy as jnp
import flax.linen as nn

from cnnlab.models.layers import (
    Conv, Activation, GlobalAveragePooling2D, MaxPooling2D, check_image_batch, check_num_classes,
    check_pooling, global_pool, keras_auto_name,
)
from cnnlab.models.registry import register
from cnnlab.ops import pool

BN_MOMENTUM = 0.99
BN_EPSILON = 1e-3
GLOROT = nn.initializers.glorot_uniform()


@dataclasses.dataclass(frozen=True)
class ConvBN:
    """Keras's ``conv2d_bn(x, filters, rows, cols, padding, strides)``."""

    filters: int
    kernel: tuple[int, int]
    strides: int = 1
    padding: str = "SAME"


@dataclasses.dataclass(frozen=True)
class Split:
    """Parallel 1x3 / 3x1 branches on one input, concatenated (mixed9 and mixed10).

    ``name`` is Keras's (``mixed9_0``), or None where Keras leaves it unnamed.
    """

    branches: tuple
    name: str | None = None


AVG_POOL = "average_pooling2d"  # 3x3/1 'same' average pool (the pooling branches)
MAX_POOL = "max_pooling2d"  # 3x3/2 'valid' max pool (stem, grid reductions)


def _cbn(filters, rows, cols, strides=1, padding="SAME"):
    return ConvBN(filters, (rows, cols), strides, padding)


STEM = (
    _cbn(32, 3, 3, 2, "VALID"), _cbn(32, 3, 3, padding="VALID"), _cbn(64, 3, 3), MAX_POOL,
    _cbn(80, 1, 1, padding="VALID"), _cbn(192, 3, 3, padding="VALID"), MAX_POOL,
)


def _block_a(pool_filters):  # mixed0..mixed2, 35x35 at 299
    return ((_cbn(64, 1, 1),),
            (_cbn(48, 1, 1), _cbn(64, 5, 5)),
            (_cbn(64, 1, 1), _cbn(96, 3, 3), _cbn(96, 3, 3)),
            (AVG_POOL, _cbn(pool_filters, 1, 1)))


def _block_c(width):  # mixed4..mixed7, factorised 7x7 convs, 17x17 at 299
    return ((_cbn(192, 1, 1),),
            (_cbn(width, 1, 1), _cbn(width, 1, 7), _cbn(192, 7, 1)),
            (_cbn(width, 1, 1), _cbn(width, 7, 1), _cbn(width, 1, 7), _cbn(width, 7, 1),
             _cbn(192, 1, 7)),
            (AVG_POOL, _cbn(192, 1, 1)))


def _block_e(index):  # mixed9, mixed10: expanded filter banks, 8x8 at 299
    return ((_cbn(320, 1, 1),),
            (_cbn(384, 1, 1), Split(((_cbn(384, 1, 3),), (_cbn(384, 3, 1),)), f"mixed9_{index}")),
            (_cbn(448, 1, 1), _cbn(384, 3, 3), Split(((_cbn(384, 1, 3),), (_cbn(384, 3, 1),)))),
            (AVG_POOL, _cbn(192, 1, 1)))


# (Keras name, branches in concatenation order); each branch is a sequence of steps.
MIXED = (
    ("mixed0", _block_a(32)),
    ("mixed1", _block_a(64)),
    ("mixed2", _block_a(64)),
    ("mixed3", ((_cbn(384, 3, 3, 2, "VALID"),),
                (_cbn(64, 1, 1), _cbn(96, 3, 3), _cbn(96, 3, 3, 2, "VALID")),
                (MAX_POOL,))),
    ("mixed4", _block_c(128)),
    ("mixed5", _block_c(160)),
    ("mixed6", _block_c(160)),
    ("mixed7", _block_c(192)),
    ("mixed8", ((_cbn(192, 1, 1), _cbn(320, 3, 3, 2, "VALID")),
                (_cbn(192, 1, 1), _cbn(192, 1, 7), _cbn(192, 7, 1), _cbn(192, 3, 3, 2, "VALID")),
                (MAX_POOL,))),
    ("mixed9", _block_e(0)),
    ("mixed10", _block_e(1)),
)


@dataclasses.dataclass(frozen=True)
class KerasLayer:
    """One Keras layer of InceptionV3: its name, what it does and the layers it reads."""

    name: str
    kind: str  # 'conv' | 'bn' | 'relu' | 'max_pool' | 'avg_pool' | 'concat' | 'gap' | 'gmp' | 'dense'
    inputs: tuple[str, ...]  # layer names; 'input' is the image batch
    conv: ConvBN | None = None


def inception_v3_layers(include_top: bool = True, pooling: str | None = None) -> list[KerasLayer]:
    """Every layer of ``keras.applications.InceptionV3`` in creation order, with Keras's names."""
    check_pooling(pooling)
    layers: list[KerasLayer] = []
    counters: dict[str, int] = {}

    def add(base, kind, inputs, conv=None, name=None):
        if name is None:  # Keras's automatic name
            index = counters.get(base, 0)
            counters[base] = index + 1
            name = keras_auto_name(base, index)
        layers.append(KerasLayer(name, kind, tuple(inputs), conv))
        return name

    def step(spec, x):
        if isinstance(spec, ConvBN):
            x = add("conv2d", "conv", [x], spec)
            x = add("batch_normalization", "bn", [x])
            return add("activation", "relu", [x])
        if spec == AVG_POOL:
            return add(AVG_POOL, "avg_pool", [x])
        if spec == MAX_POOL:
            return add(MAX_POOL, "max_pool", [x])
        if isinstance(spec, Split):
            outs = [branch(b, x) for b in spec.branches]
            return add("concatenate", "concat", outs, name=spec.name)
        raise ValueError(f"unknown InceptionV3 step {spec!r}.")

    def branch(steps, x):
        for spec in steps:
            x = step(spec, x)
        return x

    x = branch(STEM, "input")
    for name, branches in MIXED:
        x = add("concatenate", "concat", [branch(b, x) for b in branches], name=name)
    if include_top:
        x = add("avg_pool", "gap", [x], name="avg_pool")
        add("predictions", "dense", [x], name="predictions")
    elif pooling == "avg":
        add("global_average_pooling2d", "gap", [x], name="global_average_pooling2d")
    elif pooling == "max":
        add("global_max_pooling2d", "gmp", [x], name="global_max_pooling2d")
    return layers


class AveragePooling2D(nn.Module):
    """Average pooling like Keras: padded positions are not counted ('same' corners average real pixels)."""

    pool_size: int = 3
    strides: int | None = None
    padding: str = "SAME"

    @nn.compact
    def __call__(self, x):  # (B, H, W, C)
        return pool.avg_pool(x, self.pool_size, self.strides or self.pool_size, self.padding)


class Concatenate(nn.Module):
    """Channel concatenation of same-sized maps (Keras ``layers.concatenate(axis=-1)``)."""

    @nn.compact
    def __call__(self, *xs):
        sizes = {tuple(x.shape[:-1]) for x in xs}
        if len(sizes) != 1:
            raise ValueError(f"Concatenate needs inputs of one (B, H, W), got {sorted(sizes)}.")
        return jnp.concatenate(xs, axis=-1)


@register("inception_v3")
class InceptionV3(nn.Module):
    """Inception-v3 backbone/classifier.

    include_top: avg_pool -> predictions, float32 logits ``(B, num_classes)``
    (Keras applies softmax inside ``predictions``; here it is left to the loss).
    Otherwise ``pooling=None`` returns the mixed10 map ``(B, h, w, 2048)``;
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
        check_image_batch(x, "inception_v3", min_size=75)

        def apply(layer: KerasLayer, inputs):
            name, kind = layer.name, layer.kind
            if kind == "conv":
                spec = layer.conv
                return Conv(spec.filters, spec.kernel, (spec.strides, spec.strides),
                               padding=spec.padding, use_bias=False, kernel_init=GLOROT,
                               dtype=self.dtype, param_dtype=jnp.float32, name=name)(*inputs)
            if kind == "bn":
                return nn.BatchNorm(use_running_average=not train, momentum=BN_MOMENTUM,
                                    epsilon=BN_EPSILON, use_scale=False, dtype=self.dtype,
                                    param_dtype=jnp.float32, name=name)(*inputs)
            if kind == "relu":
                return Activation("relu", name=name)(*inputs)
            if kind == "avg_pool":
                return AveragePooling2D(3, 1, "SAME", name=name)(*inputs)
            if kind == "max_pool":
                return MaxPooling2D(3, 2, name=name)(*inputs)
            if kind == "concat":
                return Concatenate(name=name)(*inputs)
            if kind == "gap":
                return GlobalAveragePooling2D(name=name)(*inputs)
            if kind == "gmp":
                return global_pool("max", name=name)(*inputs)
            if kind == "dense":
                return nn.Dense(self.num_classes, kernel_init=GLOROT, dtype=self.dtype,
                                param_dtype=jnp.float32, name=name)(*inputs)
            raise ValueError(f"unknown InceptionV3 layer kind {kind!r} ({name}).")

        values = {"input": x}
        for layer in inception_v3_layers(self.include_top, self.pooling):
            x = apply(layer, [values[name] for name in layer.inputs])
            values[layer.name] = x
        # x: (B, num_classes) logits, (B, h, w, 2048) mixed10 or (B, 2048) pooled
        return x.astype(jnp.float32) if self.include_top else x
