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

``data_config`` (an ``ml_collections.ConfigDict`` or dict) fields:

every source:
  name          'shapes' (default dataset, built in), a TFDS catalog name
                ('mnist', 'fashion_mnist', 'cifar10', 'cifar100', 'tf_flowers',
                'cats_vs_dogs', 'oxford_iiit_pet', 'voc', 'voc/2012', ...) or
                'tfds:NAME' for any TFDS dataset, 'image_folder', 'npz',
                'voc_folder' (VOC detection folders, ``cnnlab.data.voc_detection``),
                'voc_segmentation' (``cnnlab.data.voc_segmentation``).
  image_size    (H, W) or int to resize to; None keeps the stored size
                (for 'shapes': the size drawn, default (64, 64)).
  num_threads   Grain reader threads decoding ahead (0 = inline); default 2 for
                sources read from disk, 0 for in-memory arrays.
  augment       ConfigDict for ``cnnlab.data.augment.build`` (on device).
shapes (see ``cnnlab.data.shapes``):
  variant       'classify' (1 object, default) or 'detect' (1-4 objects).
  num_classes   2..6 shape classes (default 3: circle, square, triangle).
  min_objects, max_objects   override the variant's object counts.
  num_train, num_validation, num_test   split sizes (6000/1000/1000).
  data_seed     generator seed (default 0).
  storage       'tfds' (prepare the ``cnnlab_shapes`` TFDS builder into
                data_dir, default) or 'memory' (draw on the fly).
  data_dir      TFDS data folder (default TFDS_DATA_DIR or ~/tensorflow_datasets).
TFDS catalog (see ``cnnlab.data.tfds_source``):
  data_dir      where the dataset is prepared (array_record format).
  download      try to prepare a missing dataset (default True; needs
                internet and TensorFlow).
  max_boxes     boxes per image for 'voc' (default 64).
  pet_border    'class' (default) or 'ignore': the Oxford pet trimap border.
  splits use TFDS syntax: 'train', 'test', 'train[:75%]', 'train[75%:]'.
image_folder (see ``cnnlab.data.image_folder``):
  root          folder of <split>/<class>/*.jpg.
  archive       a .tar.gz of such a folder, extracted once into cache_dir
                (default ~/.cache/cnnlab/data); root is then relative to it.
  classes       subset of class folders, labels 0..k-1 in this order.
  max_per_class deterministic subsample per class (data_seed).
  validation_fraction   carve validation from train when no such folder.
  color_mode    'rgb' (default) or 'grayscale'.
  on_corrupt    'raise' (default) or 'skip' unreadable images.
npz (see ``cnnlab.data.npz``):
  path          Keras-style .npz with x_train, y_train, x_test, y_test.
  validation_size   last N training examples become 'validation'.
  num_classes, class_names   optional; default max label + 1 and '0'..'9'.
"""
from __future__ import annotations

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

    name = data_config.get("name", None)
    if not isinstance(name, str) or not name:
        raise ValueError(f"data.name must name a source: one of {source_names()} or 'tfds:NAME'.")
    if name in _SOURCE_MODULES:
        return importlib.import_module(f"cnnlab.data.{_SOURCE_MODULES[name]}").open_split(data_config, split)
    from cnnlab.data import tfds_source

    if tfds_source.is_catalog_name(name):
        return tfds_source.open_split(data_config, split)
    raise ValueError(f"unknown data.name {name!r}: use one of {source_names()} or 'tfds:NAME'.")


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
    threads = data_config.get("num_threads", None)
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
               "decode", "pipeline", "voc_detection", "voc_segmentation", "box_augment")


def __getattr__(name: str):
    """Imports submodules on first use, so ``cnnlab.data.augment.build`` works after ``import cnnlab.data``."""
    if name in _SUBMODULES:
        import importlib

        return importlib.import_module(f"cnnlab.data.{name}")
    raise AttributeError(f"module 'cnnlab.data' has no attribute {name!r}")


__all__ = ["Dataset", "DatasetInfo", "SOURCES", "SplitSource", "build", "open_split", "source_names"]
