"""The shapes dataset as a TFDS builder (``cnnlab_shapes``) and as a pipeline source.

``CnnlabShapes`` is a ``tfds.core.GeneratorBasedBuilder`` registered under
the name ``cnnlab_shapes`` when this module is imported. It writes
``array_record`` files of ``tfds.features.Tensor`` features (uint8 arrays,
no TensorFlow needed to prepare or read), so ``tfds.data_source`` and
Grain read it with random access. Configs:

- ``classify``: one object per image (the label is unambiguous);
- ``detect``: 1 to 4 non-overlapping objects per image.

Other settings (size, classes, counts, seed) make a custom config whose name
spells them out, so differently-sized datasets never share a folder; read
one by name with ``tfds.data_source('cnnlab_shapes', split=...,
builder_kwargs={'config': config_for(...)})``. Data
lands in ``data_dir/cnnlab_shapes/<config>/<version>`` and takes a few
seconds to prepare (8,000 64x64 images: about 85 MB).

``open_split(data_config, split)`` is the pipeline source: it prepares the
builder if needed (``data.storage='tfds'``, the default) or draws examples
on the fly without writing anything (``data.storage='memory'``).
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Sequence

import numpy as np
import tensorflow_datasets as tfds

from cnnlab.data import fields, shapes
from cnnlab.data.decode import image_size_pair
from cnnlab.data.pipeline import DatasetInfo, SplitSource

NAME = "cnnlab_shapes"
VARIANTS = {"classify": (1, 1), "detect": (1, 4)}  # (min_objects, max_objects)
STORAGES = ("tfds", "memory")
DEFAULT_COUNTS = {split: fields.setting({}, f"num_{split}", source="shapes")  # the table's defaults
                  for split in ("train", "validation", "test")}


@dataclasses.dataclass(eq=False)
class ShapesConfig(tfds.core.BuilderConfig):
    """Settings of a shapes variant; together they determine every pixel."""

    image_size: tuple[int, int] = (64, 64)
    num_classes: int = 3
    min_objects: int = 1
    max_objects: int = 1
    num_train: int = DEFAULT_COUNTS["train"]
    num_validation: int = DEFAULT_COUNTS["validation"]
    num_test: int = DEFAULT_COUNTS["test"]
    seed: int = 0

    def counts(self) -> dict[str, int]:
        return {"train": self.num_train, "validation": self.num_validation, "test": self.num_test}


BUILDER_CONFIGS = [
    ShapesConfig(name="classify", description="One shape per 64x64 image, 3 classes.",
                 min_objects=1, max_objects=1),
    ShapesConfig(name="detect", description="1-4 non-overlapping shapes per 64x64 image, 3 classes.",
                 min_objects=1, max_objects=4),
]


class CnnlabShapes(tfds.core.GeneratorBasedBuilder):
    """Procedural shapes for classification, detection and segmentation (see ``cnnlab.data.shapes``)."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "First release."}
    BUILDER_CONFIGS = BUILDER_CONFIGS

    def __init__(self, *, file_format=None, **kwargs):
        # array_record is what tfds.data_source reads, and it needs no TensorFlow.
        super().__init__(file_format=file_format or "array_record", **kwargs)

    def _info(self) -> tfds.core.DatasetInfo:
        cfg = self.builder_config
        height, width = cfg.image_size
        return tfds.core.DatasetInfo(
            builder=self,
            description="Procedural shapes on varied backgrounds, drawn by cnnlab.data.shapes.",
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Tensor(shape=(height, width, 3), dtype=np.uint8, encoding="bytes"),
                "label": tfds.features.ClassLabel(names=list(shapes.class_names(cfg.num_classes))),
                "boxes": tfds.features.Tensor(shape=(cfg.max_objects, 4), dtype=np.float32),
                "box_labels": tfds.features.Tensor(shape=(cfg.max_objects,), dtype=np.int32),
                "mask": tfds.features.Tensor(shape=(height, width), dtype=np.uint8, encoding="zlib"),
            }),
            supervised_keys=("image", "label"),
            disable_shuffling=True,  # record i is example i, so split slices are index ranges
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # nothing to download
        return {split: self._generate_examples(split, count)
                for split, count in self.builder_config.counts().items() if count > 0}

    def _generate_examples(self, split: str, count: int):
        cfg = self.builder_config
        for index in range(count):
            example = shapes.draw(cfg.seed, index, split=split, image_size=cfg.image_size,
                                  num_classes=cfg.num_classes, min_objects=cfg.min_objects,
                                  max_objects=cfg.max_objects)
            yield index, example


def config_for(
    variant: str = "classify",
    *,
    image_size=(64, 64),
    num_classes: int = 3,
    min_objects: int | None = None,
    max_objects: int | None = None,
    num_train: int = DEFAULT_COUNTS["train"],
    num_validation: int = DEFAULT_COUNTS["validation"],
    num_test: int = DEFAULT_COUNTS["test"],
    seed: int = 0,
) -> ShapesConfig:
    """The named config of ``variant``, or a custom one named after its settings."""
    if variant not in VARIANTS:
        raise ValueError(f"shapes variant must be one of {sorted(VARIANTS)}, got {variant!r}.")
    low, high = VARIANTS[variant]
    min_objects = low if min_objects is None else int(min_objects)
    max_objects = high if max_objects is None else int(max_objects)
    size = shapes.check_settings(image_size, num_classes, min_objects, max_objects)
    counts = (int(num_train), int(num_validation), int(num_test))
    if min(counts) < 0 or counts[0] == 0:
        raise ValueError(f"shapes counts must be >= 0 with num_train > 0, got {counts}.")
    if seed < 0:
        raise ValueError(f"shapes data_seed must be >= 0, got {seed}.")
    settings = dict(image_size=size, num_classes=int(num_classes), min_objects=min_objects,
                    max_objects=max_objects, num_train=counts[0], num_validation=counts[1],
                    num_test=counts[2], seed=int(seed))
    named = CnnlabShapes.builder_configs[variant]
    if all(getattr(named, key) == value for key, value in settings.items()):
        return named
    name = (f"{variant}_{size[0]}x{size[1]}_c{num_classes}_o{min_objects}-{max_objects}"
            f"_n{counts[0]}-{counts[1]}-{counts[2]}_s{seed}")
    return ShapesConfig(name=name, description=f"Custom shapes variant {name}.", **settings)


def builder(config: ShapesConfig, data_dir: str | None = None) -> CnnlabShapes:
    """The builder of ``config`` rooted at ``data_dir`` (TFDS default when None)."""
    return CnnlabShapes(config=config, data_dir=data_dir)


def prepare(config: ShapesConfig, data_dir: str | None = None) -> CnnlabShapes:
    """Builds ``config`` into ``data_dir`` unless already there; offline, in seconds."""
    shapes_builder = builder(config, data_dir)
    if not shapes_builder.is_prepared():
        shapes_builder.download_and_prepare()
    return shapes_builder


class DrawnSource(Sequence):
    """Random access to drawn examples of one split; nothing is written to disk."""

    def __init__(self, config: ShapesConfig, split: str):
        self._config = config
        self._split = split
        self._count = config.counts()[split]

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._count))]
        if not -self._count <= index < self._count:
            raise IndexError(f"index {index} out of range for {self._count} examples")
        cfg = self._config
        return shapes.draw(cfg.seed, int(index) % self._count, split=self._split,
                           image_size=cfg.image_size, num_classes=cfg.num_classes,
                           min_objects=cfg.min_objects, max_objects=cfg.max_objects)


def _contract_record(record: dict) -> dict:
    """A shapes record (from TFDS or drawn) in the pipeline's record form."""
    return {
        "image": np.asarray(record["image"]),
        "label": np.int32(record["label"]),
        "boxes": np.asarray(record["boxes"], np.float32),
        "box_labels": np.asarray(record["box_labels"], np.int32),
        "mask": np.asarray(record["mask"]),
    }


def config_from_data_config(data_config) -> ShapesConfig:
    """Reads the shapes fields of a ``data`` ConfigDict (``cnnlab.data.fields``)."""
    get = functools.partial(fields.setting, data_config, source="shapes")
    return config_for(
        get("variant"),
        image_size=image_size_pair(get("image_size")),
        num_classes=get("num_classes"),
        min_objects=get("min_objects"),
        max_objects=get("max_objects"),
        num_train=get("num_train"),
        num_validation=get("num_validation"),
        num_test=get("num_test"),
        seed=get("data_seed"),
    )


def open_split(data_config, split: str) -> SplitSource:
    """The shapes split named by ``split`` (TFDS slicing like ``train[:75%]`` with storage 'tfds')."""
    config = config_from_data_config(data_config)
    storage = fields.setting(data_config, "storage", source="shapes")
    if storage not in STORAGES:
        raise ValueError(f"shapes data.storage must be one of {STORAGES}, got {storage!r}.")
    if storage == "memory":
        if split not in config.counts():
            raise ValueError(
                f"shapes with storage='memory' reads whole splits {sorted(config.counts())}, got "
                f"{split!r}; use storage='tfds' for TFDS split slicing."
            )
        if config.counts()[split] == 0:
            raise ValueError(f"shapes split {split!r} has 0 examples: set data.num_{split} > 0.")
        records = DrawnSource(config, split)
    else:
        shapes_builder = prepare(config, fields.setting(data_config, "data_dir", source="shapes"))
        try:
            records = shapes_builder.as_data_source(split=split)
        except (ValueError, KeyError, AssertionError) as error:
            raise ValueError(
                f"cannot read split {split!r} of {NAME}/{config.name}: {error}. Splits are "
                f"{sorted(shapes_builder.info.splits.keys())}, with TFDS slicing like 'train[:75%]'."
            ) from None
    height, width = config.image_size
    info = DatasetInfo(
        name=f"shapes/{config.name}",
        split=split,
        num_classes=config.num_classes,
        class_names=shapes.class_names(config.num_classes),
        image_shape=(height, width, 3),
        num_examples=len(records),
        mask_class_names=shapes.mask_class_names(config.num_classes),
        max_boxes=config.max_objects,
    )
    return SplitSource(records=records, transform=_contract_record, info=info,
                       num_threads=0 if storage == "memory" else 2)
