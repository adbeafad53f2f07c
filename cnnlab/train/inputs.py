"""The deterministic input transform every step applies before the model.

Two config switches feed it, both applied to train and eval images alike:
`config.data.preprocess` ('caffe' | 'tf' | 'torch', the input conventions of
pretrained Keras/PyTorch models) and `config.data.augment.featurewise_center`
/ `featurewise_std_normalization` (Keras ImageDataGenerator's per-channel
statistics, computed once from the training split).
"""
from typing import Callable, Optional

from cnnlab.data import augment as augment_lib
from cnnlab.data import preprocess as preprocess_lib


def build_input_fn(config, train_data) -> Optional[Callable]:
    """fn(images (B, H, W, C) in [0, 1]) -> model inputs, or None for identity."""
    fns = []
    aug = config.data.get("augment", None)
    fields = aug.to_dict() if hasattr(aug, "to_dict") else dict(aug or {})
    if fields.get("featurewise_center") or fields.get("featurewise_std_normalization"):
        stats = None
        if fields.get("mean") is None or fields.get("std") is None:
            stats = augment_lib.featurewise_stats(train_data)
        fns.append(augment_lib.build_normalizer(fields, stats))
    mode = config.data.get("preprocess", None)
    if mode and mode != "none":
        fns.append(lambda images: preprocess_lib.preprocess(images, mode))
    if not fns:
        return None

    def input_fn(images):
        for fn in fns:
            images = fn(images)
        return images

    return input_fn
