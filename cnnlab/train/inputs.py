"""The deterministic input transform every step applies before the model.

Two config switches feed it, both applied to train and eval images alike:
`config.data.preprocess` ('caffe' | 'tf' | 'torch', the input conventions of
pretrained Keras/PyTorch models) and `config.data.augment.featurewise_center`
/ `featurewise_std_normalization` (Keras ImageDataGenerator's per-channel
statistics). The statistics are computed once from the training split when
training starts and saved as `<workdir>/normalization.json`, so evaluation
and prediction read them back instead of re-reading the training split.
"""
import json
import logging
import os
from typing import Callable, Optional

import numpy as np

from cnnlab.data import augment as augment_lib
from cnnlab.data import preprocess as preprocess_lib

STATS_FILE = "normalization.json"


def _augment_fields(config) -> dict:
    aug = config.data.get("augment", None)
    return aug.to_dict() if hasattr(aug, "to_dict") else dict(aug or {})


def needs_stats(config) -> bool:
    """Whether featurewise normalisation is on without fixed `mean`/`std` in the config."""
    f = _augment_fields(config)
    on = f.get("featurewise_center") or f.get("featurewise_std_normalization")
    return bool(on) and (f.get("mean") is None or f.get("std") is None)


def normalization_stats(config, workdir: Optional[str], train_data_fn: Callable, *,
                        save: bool) -> Optional[tuple]:
    """(mean, std) per channel, or None when the config needs none.

    Read from `<workdir>/normalization.json` when it exists; else computed
    from the training split (`train_data_fn()` builds it) and, with `save`,
    written there (process 0 only) for evaluation to read.
    """
    if not needs_stats(config):
        return None
    path = os.path.join(workdir, STATS_FILE) if workdir else None
    if path and os.path.exists(path):
        with open(path) as f:
            saved = json.load(f)
        return np.asarray(saved["mean"], np.float32), np.asarray(saved["std"], np.float32)
    if not save and path:
        logging.warning("%s is missing (a run from before cnnlab saved it): computing the "
                        "featurewise statistics from the training split again.", path)
    mean, std = augment_lib.featurewise_stats(train_data_fn())
    if save and path:
        with open(path + ".tmp", "w") as f:
            json.dump({"mean": mean.tolist(), "std": std.tolist(),
                       "split": config.data.train_split}, f, indent=2)
        os.replace(path + ".tmp", path)
    return mean, std


def build_input_fn(config, stats: Optional[tuple] = None) -> Optional[Callable]:
    """fn(images (B, H, W, C) in [0, 1]) -> model inputs, or None for identity.
    `stats` are the featurewise (mean, std) when `needs_stats(config)`."""
    fns = []
    fields = _augment_fields(config)
    if fields.get("featurewise_center") or fields.get("featurewise_std_normalization"):
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
