"""Keras-style ``.npz`` arrays: ``x_train, y_train, x_test, y_test`` (e.g. ``mnist.npz``).

Images ``(N, H, W)`` (grey) gain a channel axis, ``(N, H, W, C)`` stay; uint8
images become float32 in [0, 1] when batched, float images are used as
stored. Labels ``(N,)`` or ``(N, 1)`` become int32. Splits: ``train``,
``test``, and ``validation`` = the last ``data.validation_size`` training
examples (Keras' ``validation_split`` also takes the tail); ``train`` then
excludes them.
"""
from __future__ import annotations

import functools
import os

import numpy as np

from cnnlab.data import fields
from cnnlab.data.decode import image_size_pair, resize_image
from cnnlab.data.pipeline import DatasetInfo, SplitSource

KEYS = ("x_train", "y_train", "x_test", "y_test")
SPLITS = ("train", "validation", "test")


def load_arrays(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The four arrays of a Keras-style npz file, images with a channel axis."""
    path = os.path.expanduser(os.fspath(path))
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"npz file {path} does not exist: set data.path to a Keras-style .npz "
            f"(x_train, y_train, x_test, y_test), e.g. ../shared/data/mnist.npz."
        )
    with np.load(path, allow_pickle=False) as npz:
        missing = [k for k in KEYS if k not in npz.files]
        if missing:
            raise ValueError(f"{path} lacks arrays {missing}; it holds {sorted(npz.files)} (need {list(KEYS)}).")
        arrays = {key: npz[key] for key in KEYS}
    for part in ("train", "test"):
        x, y = arrays[f"x_{part}"], arrays[f"y_{part}"]
        if x.ndim == 3:
            x = x[..., None]  # (N, H, W) -> (N, H, W, 1)
        if x.ndim != 4:
            raise ValueError(f"{path}: x_{part} must be (N, H, W) or (N, H, W, C), got shape {x.shape}.")
        y = np.asarray(y).reshape(len(y), -1)
        if y.shape[1] != 1 or len(y) != len(x):
            raise ValueError(
                f"{path}: y_{part} must hold one integer label per image, got shape "
                f"{arrays[f'y_{part}'].shape} for {len(x)} images."
            )
        arrays[f"x_{part}"], arrays[f"y_{part}"] = x, y[:, 0].astype(np.int32)
    if arrays["x_train"].shape[1:] != arrays["x_test"].shape[1:]:
        raise ValueError(f"{path}: x_train {arrays['x_train'].shape} and x_test {arrays['x_test'].shape} differ.")
    return arrays


class ArrayRecords:
    """Random access to ``(image, label)`` rows of two arrays."""

    def __init__(self, images: np.ndarray, labels: np.ndarray):
        self.images = images
        self.labels = labels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index):
        return self.images[index], self.labels[index]


class ArrayTransform:
    """``(image, label)`` -> pipeline record, resizing uint8 images when asked."""

    def __init__(self, size):
        self.size = size

    def __call__(self, record) -> dict:
        image, label = record
        if self.size is not None:
            if image.dtype != np.uint8:
                raise ValueError("data.image_size resizing of npz images needs uint8 arrays.")
            image = resize_image(image, self.size)
        return {"image": image, "label": np.int32(label)}


def split_arrays(arrays: dict[str, np.ndarray], split: str, validation_size: int = 0):
    """``(images, labels)`` of ``split``, with validation taken from the tail of train."""
    if split not in SPLITS:
        raise ValueError(f"npz split must be one of {SPLITS}, got {split!r}.")
    n_train = len(arrays["x_train"])
    if not 0 <= validation_size < n_train:
        raise ValueError(f"data.validation_size={validation_size} must lie in [0, {n_train}).")
    if split == "test":
        return arrays["x_test"], arrays["y_test"]
    if split == "validation":
        if validation_size == 0:
            raise ValueError("npz has no validation split: set data.validation_size (e.g. 5000) to carve one "
                             "from train.")
        return arrays["x_train"][-validation_size:], arrays["y_train"][-validation_size:]
    cut = n_train - validation_size
    return arrays["x_train"][:cut], arrays["y_train"][:cut]


def open_split(data_config, split: str) -> SplitSource:
    """An npz split as a pipeline source (fields: ``cnnlab.data.fields``)."""
    get = functools.partial(fields.setting, data_config, source="npz")
    path = get("path")
    if not path:
        raise ValueError("npz needs data.path: a Keras-style .npz (x_train, y_train, x_test, y_test).")
    arrays = load_arrays(path)
    images, labels = split_arrays(arrays, split, int(get("validation_size")))
    all_labels = np.concatenate([arrays["y_train"], arrays["y_test"]])
    if all_labels.size and all_labels.min() < 0:
        raise ValueError(f"{path}: labels must be >= 0, found {all_labels.min()}.")
    names = get("class_names")
    num_classes = int(get("num_classes") or (len(names) if names else all_labels.max() + 1))
    class_names = tuple(str(n) for n in names) if names else tuple(str(i) for i in range(num_classes))
    if len(class_names) != num_classes or all_labels.max() >= num_classes:
        raise ValueError(
            f"{path}: labels reach {all_labels.max()}, but num_classes={num_classes} and "
            f"{len(class_names)} class names were given."
        )
    size = image_size_pair(get("image_size"))
    height, width, channels = images.shape[1:]
    if size is not None:
        height, width = size
    info = DatasetInfo(
        name=f"npz:{os.path.splitext(os.path.basename(os.fspath(path)))[0]}",
        split=split,
        num_classes=num_classes,
        class_names=class_names,
        image_shape=(height, width, channels),
        num_examples=len(images),
    )
    return SplitSource(records=ArrayRecords(images, labels), transform=ArrayTransform(size), info=info,
                       num_threads=0)  # in memory: reader threads only add overhead
