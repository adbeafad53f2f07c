"""Explicit name tables: PyTorch state-dict prefix -> cnnlab module path, per layout.

Layouts:

- ``torchvision``: ``torchvision.models.resnet18..152`` (``conv1``, ``bn1``,
  ``layer1.0.conv1``, ``layer2.0.downsample.0`` / ``.1``, ``fc``) for the
  zoo's ``variant='torch'`` ResNets, and ``vgg11..19`` / ``vgg11_bn..19_bn``
  (``features.<i>`` in ``nn.Sequential`` order, ``classifier.0/3/6``);
- ``efficientnet_pytorch``: the naming of the ``efficientnet_pytorch`` and
  ``efficientnet-lite-pytorch`` packages (``_conv_stem``, ``_bn0``,
  ``_blocks.<n>._expand_conv`` / ``_bn0`` / ``_depthwise_conv`` / ``_bn1`` /
  ``_project_conv`` / ``_bn2``, ``_conv_head``, ``_bn1``, ``_fc``) for
  EfficientNet-Lite0..4.

Each row wraps a ``name_maps.LayerMap`` whose ``keras_name`` is the PyTorch
prefix, so ``keras_h5.map_keras_weights`` places the converted arrays with
the same shape checks, top handling and error messages as Keras files.
"""
from __future__ import annotations

import dataclasses
import re

from cnnlab.models.resnet import RESNET_LAYOUTS
from cnnlab.models.vgg import VGG_STAGE_DEPTHS
from cnnlab.pretrained.name_maps import LayerMap

# kind -> PyTorch parameter names, in the slot order of name_maps.WEIGHT_SLOTS.
TORCH_SLOTS = {
    "conv": ("weight", "bias"),
    "dense": ("weight", "bias"),
    "bn": ("weight", "bias", "running_mean", "running_var"),
}
LAYOUTS = ("torchvision", "efficientnet_pytorch")


@dataclasses.dataclass(frozen=True)
class TorchLayer:
    """One PyTorch module with weights and its cnnlab counterpart."""

    prefix: str  # state-dict prefix, e.g. 'layer1.0.conv1'
    entry: LayerMap  # cnnlab path and kind; keras_name == prefix
    flatten_channels: int = 0  # first dense after a (C, H, W) flatten: C

    @property
    def kind(self) -> str:
        return self.entry.kind


def _row(prefix, path, kind, use_bias=True, top=False, flatten_channels=0) -> TorchLayer:
    return TorchLayer(prefix, LayerMap(prefix, (path,), kind, use_bias, top), flatten_channels)


def torchvision_resnet_table(depth: int) -> list[TorchLayer]:
    """``torchvision.models.resnet{depth}`` -> cnnlab ``ResNet(variant='torch')``."""
    kind, blocks_per_stage = RESNET_LAYOUTS[depth]
    convs = 3 if kind == "bottleneck" else 2
    rows = [_row("conv1", "conv1_conv", "conv", use_bias=False), _row("bn1", "conv1_bn", "bn")]
    for stage, blocks in enumerate(blocks_per_stage, start=1):
        for b in range(blocks):
            torch_block, name = f"layer{stage}.{b}", f"conv{stage + 1}_block{b + 1}"
            for j in range(1, convs + 1):
                rows += [_row(f"{torch_block}.conv{j}", f"{name}_{j}_conv", "conv", use_bias=False),
                         _row(f"{torch_block}.bn{j}", f"{name}_{j}_bn", "bn")]
            if b == 0 and (stage > 1 or kind == "bottleneck"):
                rows += [_row(f"{torch_block}.downsample.0", f"{name}_0_conv", "conv", use_bias=False),
                         _row(f"{torch_block}.downsample.1", f"{name}_0_bn", "bn")]
    return rows + [_row("fc", "predictions", "dense", top=True)]


def torchvision_vgg_table(depth: int, batch_norm: bool) -> list[TorchLayer]:
    """``torchvision.models.vgg{depth}[_bn]``: ``features.<i>`` in Sequential order, then the classifier."""
    rows, index = [], 0
    for stage, convs in enumerate(VGG_STAGE_DEPTHS[depth], start=1):
        for i in range(1, convs + 1):
            rows.append(_row(f"features.{index}", f"block{stage}_conv{i}", "conv"))
            index += 1
            if batch_norm:
                rows.append(_row(f"features.{index}", f"block{stage}_conv{i}_bn", "bn"))
                index += 1
            index += 1  # ReLU
        index += 1  # MaxPool2d
    # classifier: Linear, ReLU, Dropout, Linear, ReLU, Dropout, Linear
    return rows + [
        _row("classifier.0", "fc1", "dense", top=True, flatten_channels=512),
        _row("classifier.3", "fc2", "dense", top=True),
        _row("classifier.6", "predictions", "dense", top=True),
    ]


def efficientnet_lite_table(index: int) -> list[TorchLayer]:
    """``efficientnet_pytorch`` names of EfficientNet-Lite{index} -> cnnlab ``EfficientNetLite``."""
    from cnnlab.models.efficientnet_lite import LITE_PARAMS, block_names, stage_plan

    width, depth, _, _ = LITE_PARAMS[index]
    expands = [stage.expand for stage in stage_plan(width, depth) for _ in range(stage.repeats)]
    rows = [_row("_conv_stem", "stem_conv", "conv", use_bias=False), _row("_bn0", "stem_bn", "bn")]
    for n, (name, expand) in enumerate(zip(block_names(index), expands)):
        block = f"_blocks.{n}"
        if expand != 1:
            rows += [_row(f"{block}._expand_conv", f"{name}_expand_conv", "conv", use_bias=False),
                     _row(f"{block}._bn0", f"{name}_expand_bn", "bn")]
        rows += [_row(f"{block}._depthwise_conv", f"{name}_dwconv", "conv", use_bias=False),
                 _row(f"{block}._bn1", f"{name}_bn", "bn"),
                 _row(f"{block}._project_conv", f"{name}_project_conv", "conv", use_bias=False),
                 _row(f"{block}._bn2", f"{name}_project_bn", "bn")]
    return rows + [_row("_conv_head", "top_conv", "conv", use_bias=False), _row("_bn1", "top_bn", "bn"),
                   _row("_fc", "predictions", "dense", top=True)]


def layout_for(model_name: str) -> str:
    """The PyTorch layout a model's files use ('torchvision' or 'efficientnet_pytorch')."""
    return "efficientnet_pytorch" if model_name.lower().startswith("efficientnet_lite") else "torchvision"


def table_for(model_name: str, layout: str | None = None) -> list[TorchLayer]:
    """The PyTorch name table of a cnnlab model in ``layout`` (default: the model's own)."""
    name = model_name.lower()
    layout = layout or layout_for(name)
    if layout not in LAYOUTS:
        raise ValueError(f"unknown PyTorch layout {layout!r}; layouts: {', '.join(LAYOUTS)}.")
    if layout == "torchvision":
        resnet = re.fullmatch(r"resnet(\d+)", name)
        if resnet and int(resnet.group(1)) in RESNET_LAYOUTS:
            return torchvision_resnet_table(int(resnet.group(1)))
        vgg = re.fullmatch(r"vgg(\d+)(_bn)?", name)
        if vgg and int(vgg.group(1)) in VGG_STAGE_DEPTHS:
            return torchvision_vgg_table(int(vgg.group(1)), bool(vgg.group(2)))
    else:
        lite = re.fullmatch(r"efficientnet_lite(\d)", name)
        if lite and int(lite.group(1)) <= 4:
            return efficientnet_lite_table(int(lite.group(1)))
    raise ValueError(
        f"no PyTorch ({layout}) name table for model {model_name!r}; PyTorch weights load into "
        f"{', '.join(supported_models())}."
    )


def supported_models() -> list[str]:
    """Model names with a PyTorch name table."""
    return ([f"resnet{d}" for d in sorted(RESNET_LAYOUTS)] + [f"vgg{d}" for d in sorted(VGG_STAGE_DEPTHS)]
            + [f"vgg{d}_bn" for d in sorted(VGG_STAGE_DEPTHS)] + [f"efficientnet_lite{i}" for i in range(5)])
