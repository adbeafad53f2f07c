"""Explicit name tables: Keras layer name -> cnnlab module path and weight slots.

One table per model family lists every layer with weights in the order
``keras.applications`` builds them (the order Keras' legacy ``.h5`` loader
pairs layers by, so exported files load back into Keras). Each layer maps to
a cnnlab module path (inside ``params`` / ``batch_stats``) and a kind that
fixes the weight order of Keras files:

- ``conv`` / ``dense``: kernel, [bias]        -> params kernel, [bias]
- ``bn``: gamma, beta, moving_mean, moving_variance
                                              -> params scale, bias;
                                                 batch_stats mean, var
- ``sepconv``: depthwise_kernel, pointwise_kernel, [bias]
                                              -> params depthwise_kernel, pointwise_kernel, [bias]
- ``depthwise`` (DepthwiseConv2D): kernel (Keras 3; ``depthwise_kernel`` in
  Keras 2), [bias]                            -> params depthwise_kernel, [bias]
- ``bn_noscale`` (BatchNormalization(scale=False)): beta, moving_mean,
  moving_variance                             -> params bias; batch_stats mean, var

Keras kernels are already HWIO / (in, out) like Flax's, so no transposes.
Layers Keras leaves unnamed (Xception's shortcut ``conv2d``/``batch_normalization``,
all of InceptionV3's convs and BatchNorms) carry ``auto=(base, ordinal)``: files
name them ``conv2d, conv2d_1, ..`` (Keras 3), ``conv2d_1, conv2d_2, ..`` (Keras 2)
or with a session offset, so they are matched by their order among the file's
layers of that base name; the ordinal is that position in Keras' layer order
(for InceptionV3 not the creation order the names count: Keras sorts a
functional model's layers by depth, ``keras_layer_order``).
``legacy_alias`` maps the Keras 1 ResNet50 names (``res2a_branch2a``,
``bn_conv1``, ``fc1000``) of the original release file to today's names.
"""
from __future__ import annotations

import dataclasses
import re

from cnnlab.models.inception_v3 import inception_v3_layers
from cnnlab.models.mobilenet_v2 import BLOCKS as MOBILENET_V2_BLOCKS
from cnnlab.models.resnet import RESNET_LAYOUTS
from cnnlab.models.vgg import VGG_STAGE_DEPTHS
from cnnlab.models.xception import MIDDLE_FLOW_BLOCKS

# kind -> (collection, variable) of each Keras weight, in Keras' file order.
WEIGHT_SLOTS = {
    "conv": (("params", "kernel"), ("params", "bias")),
    "dense": (("params", "kernel"), ("params", "bias")),
    "bn": (("params", "scale"), ("params", "bias"), ("batch_stats", "mean"), ("batch_stats", "var")),
    "sepconv": (("params", "depthwise_kernel"), ("params", "pointwise_kernel"), ("params", "bias")),
    "depthwise": (("params", "depthwise_kernel"), ("params", "bias")),
    "bn_noscale": (("params", "bias"), ("batch_stats", "mean"), ("batch_stats", "var")),
}
# kind -> Keras weight names (Keras 3 / tf.keras spelling) of each slot.
KERAS_WEIGHT_NAMES = {
    "conv": ("kernel", "bias"),
    "dense": ("kernel", "bias"),
    "bn": ("gamma", "beta", "moving_mean", "moving_variance"),
    "sepconv": ("depthwise_kernel", "pointwise_kernel", "bias"),
    "depthwise": ("kernel", "bias"),
    "bn_noscale": ("beta", "moving_mean", "moving_variance"),
}
# Spellings in files of every Keras generation -> slot index (Keras 1: W, b, running_std).
WEIGHT_NAME_TOKENS = {
    "conv": {"kernel": 0, "W": 0, "bias": 1, "b": 1},
    "dense": {"kernel": 0, "W": 0, "bias": 1, "b": 1},
    "bn": {"gamma": 0, "beta": 1, "moving_mean": 2, "running_mean": 2,
           "moving_variance": 3, "running_std": 3, "running_var": 3},
    "sepconv": {"depthwise_kernel": 0, "pointwise_kernel": 1, "bias": 2, "b": 2},
    "depthwise": {"kernel": 0, "depthwise_kernel": 0, "W": 0, "bias": 1, "b": 1},
    "bn_noscale": {"beta": 0, "moving_mean": 1, "running_mean": 1,
                   "moving_variance": 2, "running_std": 2, "running_var": 2},
}
KERAS_FILE_NAMES = {
    "vgg16": "vgg16_weights_tf_dim_ordering_tf_kernels.h5",
    "vgg19": "vgg19_weights_tf_dim_ordering_tf_kernels.h5",
    "resnet50": "resnet50_weights_tf_dim_ordering_tf_kernels.h5",
    "resnet101": "resnet101_weights_tf_dim_ordering_tf_kernels.h5",
    "resnet152": "resnet152_weights_tf_dim_ordering_tf_kernels.h5",
    "xception": "xception_weights_tf_dim_ordering_tf_kernels.h5",
    "mobilenet_v2": "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5",
    "inception_v3": "inception_v3_weights_tf_dim_ordering_tf_kernels.h5",
}

# cnnlab name -> keras.applications builder.
KERAS_APPLICATIONS = {
    "vgg16": "VGG16", "vgg19": "VGG19", "resnet50": "ResNet50", "resnet101": "ResNet101",
    "resnet152": "ResNet152", "xception": "Xception", "mobilenet_v2": "MobileNetV2",
    "inception_v3": "InceptionV3",
}


@dataclasses.dataclass(frozen=True)
class LayerMap:
    """One Keras layer with weights and where its weights live in cnnlab."""

    keras_name: str
    path: tuple[str, ...]  # module path under params / batch_stats
    kind: str  # 'conv' | 'dense' | 'bn' | 'sepconv' | 'depthwise' | 'bn_noscale'
    use_bias: bool = True
    top: bool = False  # classifier layer: absent from include_top=False files and models
    auto: tuple[str, int] | None = None  # (Keras auto-name base, ordinal) for unnamed layers

    @property
    def slots(self) -> tuple[tuple[str, str], ...]:
        """(collection, variable) of each weight, in Keras order."""
        slots = WEIGHT_SLOTS[self.kind]
        return slots if self.use_bias or self.kind == "bn" else slots[:-1]

    @property
    def weight_names(self) -> tuple[str, ...]:
        """Keras 3 weight names (``kernel``, ``gamma``, ...), in Keras order."""
        return KERAS_WEIGHT_NAMES[self.kind][:len(self.slots)]


def _layer(name, kind, use_bias=True, top=False, auto=None) -> LayerMap:
    return LayerMap(name, (name,), kind, use_bias, top, auto)


def vgg_table(depth: int) -> list[LayerMap]:
    """``keras.applications.VGG{depth}``: biased 3x3 convs, then fc1, fc2, predictions."""
    table = [
        _layer(f"block{stage}_conv{i}", "conv")
        for stage, convs in enumerate(VGG_STAGE_DEPTHS[depth], start=1)
        for i in range(1, convs + 1)
    ]
    return table + [_layer(n, "dense", top=True) for n in ("fc1", "fc2", "predictions")]


def resnet_table(depth: int) -> list[LayerMap]:
    """``keras.applications.ResNet{depth}`` (cnnlab ``variant='keras'``) in Keras' layer order.

    Keras lists a first block as 1_conv, 1_bn, 2_conv, 2_bn, 0_conv, 3_conv,
    0_bn, 3_bn (bottleneck) or 1_conv, 1_bn, 0_conv, 2_conv, 0_bn, 2_bn (basic).
    """
    kind, blocks_per_stage = RESNET_LAYOUTS[depth]
    table = [_layer("conv1_conv", "conv"), _layer("conv1_bn", "bn")]
    in_width = 64
    for index, blocks in enumerate(blocks_per_stage):
        width = 64 * 2 ** index
        out_width = width * (4 if kind == "bottleneck" else 1)
        for b in range(1, blocks + 1):
            name = f"conv{index + 2}_block{b}"
            has_shortcut = b == 1 and (index > 0 or in_width != out_width)
            last = 3 if kind == "bottleneck" else 2
            order = [f"{i}_{part}" for i in range(1, last) for part in ("conv", "bn")]
            if has_shortcut:
                order += ["0_conv", f"{last}_conv", "0_bn", f"{last}_bn"]
            else:
                order += [f"{last}_conv", f"{last}_bn"]
            table += [_layer(f"{name}_{o}", o.split("_")[1]) for o in order]
        in_width = out_width
    return table + [_layer("predictions", "dense", top=True)]


def xception_table() -> list[LayerMap]:
    """``keras.applications.Xception`` in Keras' layer order (shortcuts after the sepconvs)."""
    table = []
    for i in (1, 2):
        table += [_layer(f"block1_conv{i}", "conv", use_bias=False), _layer(f"block1_conv{i}_bn", "bn")]
    shortcut = 0

    def sepconvs(block, count):
        out = []
        for i in range(1, count + 1):
            out += [_layer(f"block{block}_sepconv{i}", "sepconv", use_bias=False),
                    _layer(f"block{block}_sepconv{i}_bn", "bn")]
        return out

    def strided_shortcut():
        nonlocal shortcut
        names = [("conv2d", "conv"), ("batch_normalization", "bn")]
        out = [_layer(base if shortcut == 0 else f"{base}_{shortcut}", kind, use_bias=False,
                      auto=(base, shortcut)) for base, kind in names]
        shortcut += 1
        return out

    for block in (2, 3, 4):
        table += sepconvs(block, 2) + strided_shortcut()
    for block in range(5, 5 + MIDDLE_FLOW_BLOCKS):
        table += sepconvs(block, 3)
    table += sepconvs(13, 2) + strided_shortcut() + sepconvs(14, 2)
    return table + [_layer("predictions", "dense", top=True)]


def mobilenet_v2_table() -> list[LayerMap]:
    """``keras.applications.MobileNetV2`` (any alpha) in Keras' layer order: bias-free convs."""
    table = [_layer("Conv1", "conv", use_bias=False), _layer("bn_Conv1", "bn")]
    for block_id in range(len(MOBILENET_V2_BLOCKS)):
        prefix = f"block_{block_id}_" if block_id else "expanded_conv_"
        if block_id:
            table += [_layer(f"{prefix}expand", "conv", use_bias=False), _layer(f"{prefix}expand_BN", "bn")]
        table += [_layer(f"{prefix}depthwise", "depthwise", use_bias=False),
                  _layer(f"{prefix}depthwise_BN", "bn"),
                  _layer(f"{prefix}project", "conv", use_bias=False),
                  _layer(f"{prefix}project_BN", "bn")]
    table += [_layer("Conv_1", "conv", use_bias=False), _layer("Conv_1_bn", "bn")]
    return table + [_layer("predictions", "dense", top=True)]


def keras_layer_order(inputs: dict[str, tuple[str, ...]], output: str) -> list[str]:
    """The order of ``keras.Model.layers`` for a functional graph, inputs excluded.

    ``inputs``: layer name -> names of the layers it reads, in creation order
    (so a layer comes after its inputs); names absent from it are model inputs.
    Keras (3: ``ops.function.map_graph``; 2's ``Network`` did the same, which
    is why release files load by order) sorts the layers by
    depth, the longest path to ``output``, deepest first, and breaks ties by
    the pre-order index of a depth-first walk from ``output`` that visits
    each layer's inputs in order. Weight files list layers in this order.
    """
    depth = {output: 0}
    for name in reversed(list(inputs)):  # consumers before their inputs
        if name not in depth:
            continue
        for source in inputs[name]:
            depth[source] = max(depth.get(source, 0), depth[name] + 1)
    index: dict[str, int] = {}
    stack = [output]
    while stack:  # iterative pre-order DFS, same visiting order as Keras' recursion
        name = stack.pop()
        if name in index:
            continue
        index[name] = len(index)
        stack.extend(reversed(inputs.get(name, ())))
    layers = [name for name in inputs if name in index]
    return sorted(layers, key=lambda name: (-depth[name], index[name]))


def inception_v3_table() -> list[LayerMap]:
    """``keras.applications.InceptionV3`` in Keras' layer order.

    Keras leaves the convs and BatchNorms (scale=False) unnamed, and sorts the
    functional graph by depth, which interleaves the branches of each mixed
    block (``conv2d_8``, ``batch_normalization_8``, ``conv2d_6``, ``conv2d_9``,
    ...); ``auto`` ordinals count positions in that order.
    """
    layers = inception_v3_layers(include_top=True)
    graph = {layer.name: layer.inputs for layer in layers}
    kinds = {layer.name: layer.kind for layer in layers}
    table, seen = [], {"conv2d": 0, "batch_normalization": 0}
    for name in keras_layer_order(graph, layers[-1].name):
        kind = kinds[name]
        if kind == "dense":
            table.append(_layer(name, "dense", top=True))
        elif kind in ("conv", "bn"):
            base = "conv2d" if kind == "conv" else "batch_normalization"
            table.append(_layer(name, "conv", use_bias=False, auto=(base, seen[base])) if kind == "conv"
                         else _layer(name, "bn_noscale", auto=(base, seen[base])))
            seen[base] += 1
    return table


def table_for(model_name: str) -> list[LayerMap]:
    """The name table of a cnnlab model that has Keras weights ('vgg16', 'resnet50', 'xception', ...)."""
    name = model_name.lower()
    vgg = re.fullmatch(r"vgg(\d+)", name)
    if vgg and int(vgg.group(1)) in VGG_STAGE_DEPTHS:
        return vgg_table(int(vgg.group(1)))
    resnet = re.fullmatch(r"resnet(\d+)", name)
    if resnet and int(resnet.group(1)) in RESNET_LAYOUTS:
        return resnet_table(int(resnet.group(1)))
    if name == "xception":
        return xception_table()
    if name == "mobilenet_v2":
        return mobilenet_v2_table()
    if name == "inception_v3":
        return inception_v3_table()
    raise ValueError(
        f"no Keras name table for model {model_name!r}; Keras weights load into "
        f"{', '.join(supported_models())}."
    )


def supported_models() -> list[str]:
    """Model names with a Keras name table."""
    return ([f"vgg{d}" for d in sorted(VGG_STAGE_DEPTHS)]
            + [f"resnet{d}" for d in sorted(RESNET_LAYOUTS)] + ["xception", "mobilenet_v2", "inception_v3"])


def keras_model_kwargs(model_name: str) -> dict:
    """Options ``cnnlab.models.create`` needs for the Keras-faithful model (ResNet: variant='keras')."""
    table_for(model_name)  # validates the name
    return {"variant": "keras"} if model_name.lower().startswith("resnet") else {}


_LEGACY_RESNET = re.compile(r"(res|bn)([2-5])([a-z])_branch(2a|2b|2c|1)")
_LEGACY_BRANCH = {"2a": "1", "2b": "2", "2c": "3", "1": "0"}


def legacy_alias(keras_name: str) -> str | None:
    """Today's name of a Keras 1 ResNet50 layer (``res3b_branch2c`` -> ``conv3_block2_3_conv``)."""
    fixed = {"conv1": "conv1_conv", "bn_conv1": "conv1_bn", "fc1000": "predictions"}
    if keras_name in fixed:
        return fixed[keras_name]
    match = _LEGACY_RESNET.fullmatch(keras_name)
    if match is None:
        return None
    prefix, stage, letter, branch = match.groups()
    suffix = "conv" if prefix == "res" else "bn"
    return f"conv{stage}_block{ord(letter) - ord('a') + 1}_{_LEGACY_BRANCH[branch]}_{suffix}"


def parse_auto_name(keras_name: str, bases) -> tuple[str, int] | None:
    """('conv2d', 3) for 'conv2d_3', ('conv2d', 0) for 'conv2d'; None for other names."""
    for base in bases:
        if keras_name == base:
            return base, 0
        match = re.fullmatch(re.escape(base) + r"_(\d+)", keras_name)
        if match:
            return base, int(match.group(1))
    return None


def weight_slot_order(kind: str, weight_names: list[str], layer_name: str) -> list[int] | None:
    """Slot index of each file weight from its name, or None when names don't tell.

    Understands ``layer/kernel:0`` (tf.keras), ``layer/kernel`` (Keras 3) and
    ``layer_W_1:0`` (Keras 1).
    """
    tokens = WEIGHT_NAME_TOKENS[kind]
    order = []
    for full in weight_names:
        short = full.split(":")[0].split("/")[-1]
        if short.startswith(layer_name + "_"):
            short = short[len(layer_name) + 1:]
        short = re.sub(r"_\d+$", "", short)
        if short not in tokens:
            return None
        order.append(tokens[short])
    return order if len(set(order)) == len(order) else None
