"""`transfer`: a zoo backbone without its top plus a new classification head.

The transfer-learning recipe of the lessons: take a (pretrained) backbone,
put a new head on it (flatten + dense, as in the VGG lesson, or global
average pooling + dense, as in the Xception lesson), train the head with the
backbone frozen, then fine-tune. Parameters live under `backbone/...` and
`head_*`/`predictions`, so freezing is a regex (`backbone/.*`,
`backbone/block[1-4]_.*`) and pretrained weights load into `backbone`.

BatchNorm layers of the backbone run in inference mode (`backbone_train=False`,
the default): like Keras' `base_model(x, training=False)`, their statistics
stay those of the pretraining, in the frozen phase and while fine-tuning.
"""
from typing import Any, Optional, Sequence

import flax.linen as nn
import jax.numpy as jnp

from cnnlab.models.registry import create, register

HEADS = ("flatten", "gap")


@register("transfer")
class TransferClassifier(nn.Module):
    num_classes: int = 10
    base: str = "vgg16"
    base_kwargs: Optional[dict] = None  # e.g. {'stem': 'cifar', 'widths': ...}
    head: str = "gap"
    hidden: Sequence[int] = ()
    dropout: float = 0.0
    backbone_train: bool = False
    dtype: Any = jnp.float32

    def setup(self):
        if self.head not in HEADS:
            raise ValueError(f"transfer head={self.head!r}; use one of {HEADS}.")
        kwargs = dict(self.base_kwargs or {})
        kwargs.update(include_top=False, pooling=None, dtype=self.dtype)
        self.backbone = create(self.base, **kwargs)
        self.hidden_layers = [nn.Dense(h, dtype=self.dtype, param_dtype=jnp.float32, name=f"head_dense{i}")
                              for i, h in enumerate(self.hidden, start=1)]
        self.drop = nn.Dropout(self.dropout)
        self.predictions = nn.Dense(self.num_classes, dtype=self.dtype, param_dtype=jnp.float32)

    def __call__(self, x, train: bool = False):  # x: (B, H, W, C)
        x = self.backbone(x, train=train and self.backbone_train)  # (B, h, w, C)
        x = x.reshape((x.shape[0], -1)) if self.head == "flatten" else x.mean(axis=(1, 2))
        for layer in self.hidden_layers:
            x = nn.relu(layer(x))
            x = self.drop(x, deterministic=not train)
        if not self.hidden_layers:
            x = self.drop(x, deterministic=not train)
        return self.predictions(x).astype(jnp.float32)  # (B, num_classes)
