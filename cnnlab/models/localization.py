"""Classification plus localization: one object's class and box from a pooled backbone.

The lesson's model: a zoo backbone (``include_top=False``), global average
pooling, then two heads on the pooled features: softmax class logits and
four box numbers squashed into [0, 1] by a sigmoid, read as the normalised
centre and size (cx, cy, w, h) of the single object and returned as corners
(x1, y1, x2, y2) clipped to [0, 1]. Centre and size keep every prediction a
proper box (corner outputs can cross, giving zero-area boxes with no IoU
gradient) and start as a central box half the image wide. Registered as ``localizer``; outputs
a dict ``{"logits": (B, num_classes), "boxes": (B, 4)}`` (float32).
"""
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from cnnlab.boxes import cxcywh_to_xyxy
from cnnlab.models.detection import build_backbone
from cnnlab.models.layers import Flatten, check_image_batch, check_num_classes, global_pool

from cnnlab.models.registry import register

POOLINGS = ("avg", "max", "flatten")


@register("localizer")
class Localizer(nn.Module):
    """Backbone -> global pool -> [Dense hidden -> ReLU] -> class logits and sigmoid box.

    Attributes:
      num_classes: classes of the single object.
      backbone: zoo model name, built with ``include_top=False``.
      backbone_kwargs: extra options for the backbone.
      pooling: 'avg' (the lesson's global average pooling), 'max', or 'flatten' (keep
        the last map's spatial layout: global pooling discards where things are, so the
        box head must recover position from padding effects and learns slowly).
      hidden: width of a shared Dense + ReLU before the heads (0: none).
      dropout_rate: dropout on the pooled features during training.
    """

    num_classes: int = 3
    backbone: str = "tiny_backbone"
    backbone_kwargs: Any = None
    pooling: str = "avg"
    hidden: int = 128
    dropout_rate: float = 0.0
    dtype: Any = jnp.float32

    def __post_init__(self):
        check_num_classes(self.num_classes)
        if self.pooling not in POOLINGS:
            raise ValueError(f"localizer pooling must be one of {POOLINGS}, got {self.pooling!r}.")
        if int(self.hidden) < 0:
            raise ValueError(f"localizer hidden must be >= 0, got {self.hidden}.")
        if not 0.0 <= float(self.dropout_rate) < 1.0:
            raise ValueError(f"localizer dropout_rate must be in [0, 1), got {self.dropout_rate}.")
        super().__post_init__()

    @nn.compact
    def __call__(self, x, train: bool = False):  # (B, H, W, C)
        check_image_batch(x, "localizer")
        features = build_backbone(self, self.backbone, self.backbone_kwargs)(x, train=train)
        if self.pooling == "flatten":
            y = Flatten(name="flatten")(features)  # (B, h * w * C)
        else:
            y = global_pool(self.pooling)(features)  # (B, C)
        y = nn.Dropout(self.dropout_rate, deterministic=not train, name="dropout")(y)
        if self.hidden:
            y = nn.relu(nn.Dense(int(self.hidden), dtype=self.dtype, param_dtype=jnp.float32,
                                 name="fc")(y))
        logits = nn.Dense(self.num_classes, dtype=self.dtype, param_dtype=jnp.float32,
                          name="predictions")(y)  # (B, K)
        cxcywh = nn.sigmoid(nn.Dense(4, dtype=self.dtype, param_dtype=jnp.float32,
                                     name="box")(y))  # (B, 4) in [0, 1]
        boxes = jnp.clip(cxcywh_to_xyxy(cxcywh), 0.0, 1.0)  # (B, 4) x1, y1, x2, y2
        return {"logits": logits.astype(jnp.float32), "boxes": boxes.astype(jnp.float32)}
