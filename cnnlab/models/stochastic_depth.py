"""Per-block stochastic-depth rates of a zoo model: ``drop_path_rates(models.create('resnet18', drop_path_rate=0.1))``.

The layer itself is ``cnnlab.models.layers.DropPath``; ResNet and
EfficientNet-Lite take ``drop_path_rate`` and ramp it linearly over their
blocks (timm's rule, see their module docstrings). This lists, for a built
model, the rate each residual branch is dropped with in training, so a run
can log it and a test can check it.
"""
import flax.linen as nn

from cnnlab.models import efficientnet_lite, resnet


def drop_path_rates(model: nn.Module) -> dict[str, float]:
    """{block name: rate} of every block whose residual branch ``model`` drops in training.

    Blocks are in order; a rate of 0.0 (the first block, or every block with
    ``drop_path_rate=0``) means the branch is always kept.
    """
    if isinstance(model, resnet.ResNet):
        return resnet.block_drop_path_rates(model.depth, model.drop_path_rate)
    if isinstance(model, efficientnet_lite.EfficientNetLite):
        return efficientnet_lite.block_drop_path_rates(model.index, model.drop_path_rate)
    raise ValueError(
        f"{type(model).__name__} has no stochastic depth; drop_path_rate exists on the ResNet "
        "(resnet18..152) and EfficientNet-Lite (efficientnet_lite0..4) models.")
