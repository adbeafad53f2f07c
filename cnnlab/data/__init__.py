"""Data: sources, the Grain pipeline, augmentation and preprocessing.

``build(data_config, split, batch_size, *, train, seed, process_index=0,
process_count=1)`` returns a :class:`Dataset` whose ``.epoch(epoch,
start_step=0)`` yields host batches (dicts of numpy arrays):

- ``image`` float32 ``(B, H, W, C)`` in [0, 1]; ``label`` int32 ``(B,)``;
- ``boxes`` float32 ``(B, N, 4)`` normalised (x1, y1, x2, y2) and
  ``box_labels`` int32 ``(B, N)``, -1 = padding (detection sources);
- ``mask`` int32 ``(B, H, W)``, 255 = ignore (segmentation sources);
- ``valid`` bool ``(B,)``: False on the padding of an eval split's last
  batch (always True on train).

``batch_size`` is the global batch; each process yields
``batch_size // process_count`` examples per batch from its own shard. The
order is a pure function of ``(seed, epoch)``, so ``epoch(e, start_step=k)``
reproduces batches ``k..`` of ``epoch(e)`` exactly. ``.info`` is a
:class:`DatasetInfo` (``num_classes``, ``class_names``, ``image_shape``,
``num_examples``, ``mask_class_names``, ``max_boxes``, ``extra_keys``, ``keys``);
``.steps_per_epoch`` counts batches per process.

``data_config`` (an ``ml_collections.ConfigDict`` or dict) names its source
in ``name``: 'shapes' (built in, ``cnnlab.data.shapes``), a TFDS catalog name
('mnist', 'cifar10', 'voc/2012', ... or 'tfds:NAME'; ``cnnlab.data.tfds_source``),
'image_folder', 'npz', 'voc_folder' (``cnnlab.data.voc_detection``) or
'voc_segmentation'. Every field a source takes, with its default, is in the
tables of ``cnnlab.data.fields``; a field that no source knows is an error.
"""
from __future__ import annotations

from cnnlab.data import fields
from cnnlab.data.pipeline import Dataset, DatasetInfo, SplitSource

# data.name -> the cnnlab.data module whose ``open_split(data_config, split)`` reads it.
_SOURCE_MODULES = {
    "shapes": "shapes_builder",
    "image_folder": "image_folder",
    "npz": "npz",
    "voc_folder": "voc_detection",
    "voc_segmentation": "voc_segmentation",
}
SOURCES = tuple(_SOURCE_MODULES) + ("tfds",)  # the kinds of source; 'tfds' covers catalog names


def source_names() -> tuple[str, ...]:
    """Every ``data.name`` that ``build`` accepts (besides 'tfds:NAME' and 'voc/CONFIG')."""
    from cnnlab.data.tfds_source import CATALOG

    return tuple(_SOURCE_MODULES) + CATALOG


def open_split(data_config, split: str) -> SplitSource:
    """The records, transform and info of one split, before batching."""
    import importlib

    kind = fields.check(data_config)  # a misspelt field fails here, before any data is read
    module = "tfds_source" if kind == "tfds" else _SOURCE_MODULES[kind]
    return importlib.import_module(f"cnnlab.data.{module}").open_split(data_config, split)


def build(
    data_config,
    split: str,
    batch_size: int,
    *,
    train: bool,
    seed: int,
    process_index: int = 0,
    process_count: int = 1,
) -> Dataset:
    """The batches of ``split`` for this process (see the module docstring)."""
    source = open_split(data_config, split)
    threads = fields.setting(data_config, "num_threads")
    return Dataset(
        source,
        batch_size,
        train=train,
        seed=seed,
        process_index=process_index,
        process_count=process_count,
        num_threads=int(source.num_threads if threads is None else threads),
    )


_SUBMODULES = ("augment", "preprocess", "shapes", "shapes_builder", "tfds_source", "image_folder", "npz",
               "decode", "pipeline", "voc_detection", "voc_segmentation", "box_augment",
               "mask_augment", "fields", "randaugment", "mixing")


def __getattr__(name: str):
    """Imports submodules on first use, so ``cnnlab.data.augment.build`` works after ``import cnnlab.data``."""
    if name in _SUBMODULES:
        import importlib

        return importlib.import_module(f"cnnlab.data.{name}")
    raise AttributeError(f"module 'cnnlab.data' has no attribute {name!r}")


__all__ = ["Dataset", "DatasetInfo", "SOURCES", "SplitSource", "build", "fields", "open_split", "source_names"]
