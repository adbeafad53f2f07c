"""TFDS catalog datasets read with ``tfds.data_source`` (random access, no TensorFlow).

Names: the catalog entries below (``mnist``, ``cifar10``, ``voc/2012``, ...)
or ``tfds:NAME`` for any TFDS dataset with an ``image`` feature. Splits use
TFDS syntax, slicing included (``train[:75%]``, ``train[75%:]``).

How each dataset's features meet the batch contract:

- image datasets (mnist, fashion_mnist, cifar10, cifar100, tf_flowers,
  cats_vs_dogs, ...): ``image``, ``label``;
- ``voc``: ``objects/bbox`` (ymin, xmin, ymax, xmax) -> ``boxes``
  (x1, y1, x2, y2), ``objects/label`` -> ``box_labels`` (padded to
  ``data.max_boxes``), ``label`` = class of the largest object;
- ``oxford_iiit_pet``: ``label`` (37 breeds), ``segmentation_mask`` trimap
  (1 pet, 2 background, 3 border) -> ``mask`` 0 background, 1 pet,
  2 border (or 255 ignore with ``data.pet_border='ignore'``);
- any dataset whose features already use the contract names ``boxes``,
  ``box_labels``, ``mask`` passes them through.

``tfds.data_source`` reads only datasets prepared in the ``array_record``
format. Preparing catalog datasets needs internet access and TensorFlow
(to encode images), so a dataset that is not prepared raises one
FileNotFoundError that says how to prepare it elsewhere.
"""
from __future__ import annotations

import functools
import importlib.util
import os
import socket

import numpy as np

from cnnlab.data import fields
from cnnlab.data.decode import image_size_pair, pad_boxes, resize_image, resize_mask
from cnnlab.data.pipeline import MASK_IGNORE, DatasetInfo, SplitSource

CATALOG = (
    "mnist", "fashion_mnist", "cifar10", "cifar100", "tf_flowers", "cats_vs_dogs",
    "oxford_iiit_pet", "voc",
)
PET_BORDER_MODES = ("class", "ignore")


def base_name(name: str) -> str:
    """``voc/2012:5.0.0`` -> ``voc``."""
    return name.split(":", 1)[0].split("/", 1)[0]


def is_catalog_name(name: str) -> bool:
    return name.startswith("tfds:") or base_name(name) in CATALOG


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _why_cannot_prepare() -> str | None:
    """Why this machine cannot prepare a catalog dataset, or None when it can try."""
    if importlib.util.find_spec("tensorflow") is None:
        return "TensorFlow is not installed here, and TFDS needs it to encode images while preparing"
    try:
        socket.create_connection(("storage.googleapis.com", 443), timeout=3).close()
    except OSError as error:
        return f"there is no internet access ({error})"
    return None


def _not_prepared_error(name: str, split: str, data_dir: str, reason: str) -> FileNotFoundError:
    return FileNotFoundError(
        f"TFDS dataset {name!r} (split {split!r}) is not prepared in {data_dir} in the array_record "
        f"format that tfds.data_source reads, and cannot be prepared here: {reason}.\n"
        f"Prepare it once on a machine with internet access and TensorFlow:\n"
        f"    pip install tensorflow tensorflow-datasets\n"
        f"    tfds build {name} --data_dir=/path/to/tfds --file_format=array_record\n"
        f"then copy that folder here and pass --config.data.data_dir=/path/to/tfds "
        f"(or set TFDS_DATA_DIR). Offline alternatives: data.name='npz' (Keras mnist.npz), "
        f"'image_folder' (folders of JPEGs) or 'shapes' (built in)."
    )


def open_data_source(name: str, split: str, data_dir: str | None = None, download: bool = True):
    """``(builder, data_source)`` of a TFDS dataset split, with one clear error when unavailable."""
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(name, data_dir=data_dir, file_format="array_record")
    except tfds.core.registered.DatasetNotFoundError:
        raise ValueError(
            f"unknown TFDS dataset {name!r}: check the spelling against the TFDS catalog "
            f"(cnnlab knows {', '.join(CATALOG)})."
        ) from None
    except (ValueError, TypeError) as error:
        hint = ""
        try:
            configs = list(tfds.builder_cls(base_name(name)).builder_configs)
            hint = f" Its configs are {configs} (name them as '{base_name(name)}/CONFIG')." if configs else ""
        except Exception:  # noqa: BLE001 - the hint is optional
            pass
        raise ValueError(f"cannot open TFDS dataset {name!r}: {_first_line(error)}{hint}") from None
    where = os.fspath(builder.data_dir_root)
    try:
        return builder, builder.as_data_source(split=split)
    except Exception as error:  # noqa: BLE001 - every failure becomes one clear error below
        first_error = error
    if builder.is_prepared():
        splits = sorted(builder.info.splits.keys())
        raise ValueError(
            f"cannot read split {split!r} of TFDS dataset {name!r} in {where}: "
            f"{_first_line(first_error)}. Splits are {splits} (slicing like 'train[:75%]' works); "
            f"a dataset prepared as tfrecord must be rebuilt with --file_format=array_record."
        ) from None
    reason = "downloads are off (data.download=False)" if not download else _why_cannot_prepare()
    if reason is None:
        try:
            builder.download_and_prepare(file_format="array_record")
            return builder, builder.as_data_source(split=split)
        except Exception as error:  # noqa: BLE001
            reason = f"preparing failed: {_first_line(error)}"
    raise _not_prepared_error(name, split, where, reason) from None


def _class_names(feature) -> tuple[str, ...]:
    return tuple(feature.names) if getattr(feature, "names", None) else tuple(
        str(i) for i in range(feature.num_classes))


def _image_shape(feature, size) -> tuple[int, int, int]:
    shape = tuple(feature.shape)
    if size is None:
        return shape
    return (size[0], size[1], shape[-1])


def open_split(data_config, split: str) -> SplitSource:
    """A TFDS catalog split as a pipeline source (see the module docstring)."""
    get = functools.partial(fields.setting, data_config, source="tfds")
    name = get("name")
    name = name[len("tfds:"):] if name.startswith("tfds:") else name
    size = image_size_pair(get("image_size"))
    download = get("download") is not False
    builder, records = open_data_source(name, split, get("data_dir"), download)
    features = builder.info.features
    if "image" not in features:
        raise ValueError(f"TFDS dataset {name!r} has no 'image' feature; its features are {list(features)}.")
    image_shape = _image_shape(features["image"], size)
    if None in image_shape[:2]:
        raise ValueError(
            f"TFDS dataset {name!r} has images of varying size {features['image'].shape}: set "
            f"data.image_size=(H, W) to resize them."
        )
    base = base_name(name)
    max_boxes = int(get("max_boxes"))
    mask_names: tuple[str, ...] = ()
    if base == "voc":
        if max_boxes < 1:
            raise ValueError(f"data.max_boxes={max_boxes} must be >= 1 (or None for the default).")
        class_names = _class_names(features["objects"]["label"])
        transform = VocTransform(size, max_boxes)
    elif base == "oxford_iiit_pet":
        border = get("pet_border")
        if border not in PET_BORDER_MODES:
            raise ValueError(f"data.pet_border must be one of {PET_BORDER_MODES}, got {border!r}.")
        class_names = _class_names(features["label"])
        mask_names = ("background", "pet", "border") if border == "class" else ("background", "pet")
        transform = PetTransform(size, border)
    else:
        if "label" not in features:
            raise ValueError(f"TFDS dataset {name!r} has no 'label' feature; its features are {list(features)}.")
        class_names = _class_names(features["label"])
        passthrough = tuple(k for k in ("boxes", "box_labels", "mask") if k in features)
        if ("boxes" in passthrough) != ("box_labels" in passthrough):
            raise ValueError(f"TFDS dataset {name!r} must have both 'boxes' and 'box_labels' features or neither.")
        if "mask" in passthrough:
            mask_names = ("background",) + class_names
        if "boxes" in passthrough:
            max_boxes = int(features["boxes"].shape[0])
        transform = ImageLabelTransform(size, passthrough)
    info = DatasetInfo(
        name=name,
        split=split,
        num_classes=len(class_names),
        class_names=class_names,
        image_shape=image_shape,
        num_examples=len(records),
        mask_class_names=mask_names,
        max_boxes=max_boxes if base == "voc" or "boxes" in features else 0,
    )
    return SplitSource(records=records, transform=transform, info=info)


class ImageLabelTransform:
    """``image``/``label`` records (plus contract-named boxes and masks) -> pipeline records."""

    def __init__(self, size, passthrough: tuple[str, ...] = ()):
        self.size = size
        self.passthrough = passthrough

    def __call__(self, record: dict) -> dict:
        out = {"image": resize_image(record["image"], self.size), "label": np.int32(record["label"])}
        for key in self.passthrough:
            value = np.asarray(record[key])
            out[key] = resize_mask(value, self.size) if key == "mask" else value
        return out


class VocTransform:
    """VOC objects -> (x1, y1, x2, y2) boxes, box labels and the largest object's class."""

    def __init__(self, size, max_boxes: int):
        self.size = size
        self.max_boxes = max_boxes

    def __call__(self, record: dict) -> dict:
        objects = record["objects"]
        bbox = np.asarray(objects["bbox"], np.float32).reshape(-1, 4)  # (n, [ymin, xmin, ymax, xmax])
        labels = np.asarray(objects["label"], np.int32).reshape(-1)
        n = min(len(bbox), len(labels))
        boxes = bbox[:n][:, [1, 0, 3, 2]]  # (n, [x1, y1, x2, y2])
        labels = labels[:n]
        areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        label = labels[int(np.argmax(areas))] if n else -1
        boxes, box_labels = pad_boxes(boxes, labels, self.max_boxes)
        return {"image": resize_image(record["image"], self.size), "label": np.int32(label),
                "boxes": boxes, "box_labels": box_labels}


class PetTransform:
    """Oxford-IIIT Pet: breed label and trimap -> mask (0 background, 1 pet, 2 border or 255)."""

    def __init__(self, size, border: str):
        self.size = size
        lookup = np.full(256, MASK_IGNORE, np.uint8)
        lookup[1], lookup[2] = 1, 0
        lookup[3] = 2 if border == "class" else MASK_IGNORE
        self.lookup = lookup

    def __call__(self, record: dict) -> dict:
        trimap = np.asarray(record["segmentation_mask"])
        trimap = trimap[..., 0] if trimap.ndim == 3 else trimap  # (H, W)
        mask = self.lookup[resize_mask(trimap, self.size)]
        return {"image": resize_image(record["image"], self.size), "label": np.int32(record["label"]),
                "mask": mask}
