"""The fields of ``config.data``: one table per kind of data source, the one place their defaults live.

``SOURCE_FIELDS[kind]`` lists a source's own ``(field, default, comment)``;
every source also takes ``COMMON`` (read by the training loop and
``cnnlab.data.build``), and a source's entry replaces the common one of the
same name (shapes draws 64x64 images unless told otherwise). ``None`` means
"automatic"; the comment says what that is. Sources read their fields with
:func:`setting`, so each default is written only here; :func:`check` rejects a
field that no source knows (a typo would otherwise be ignored); and
:func:`fields_of` lists a source's fields (``--show_config``).

``augment`` is one field here; its own fields are checked by
``cnnlab.data.augment``, ``box_augment`` and ``mask_augment``.
"""
from __future__ import annotations

import difflib

CACHE_DIR = "~/.cache/cnnlab/data"  # where archives of image folders and VOC sets are extracted

COMMON = (
    ("name", None, "required: 'shapes', a TFDS catalog name or 'tfds:NAME', 'image_folder', 'npz', "
                   "'voc_folder' or 'voc_segmentation' (base_config starts from 'shapes')"),
    ("train_split", "train", "split to train on"),
    ("eval_split", "validation", "split evaluated during training ('' for none)"),
    ("test_split", "test", "split evaluated once at the end ('' for none)"),
    ("image_size", None, "(H, W) or int to resize to (None: the stored size)"),
    ("num_threads", None, "Grain reader threads decoding ahead, 0 = inline (None: 2 from disk, 0 in memory)"),
    ("augment", None, "on-device augmentation (fields of cnnlab.data.augment, box_augment, mask_augment)"),
    ("preprocess", None, "input convention of pretrained models: 'caffe' | 'tf' | 'torch' | ... (None: none)"),
)

_ARCHIVE = ("archive", None, "a .tar(.gz) of the folder, extracted once into cache_dir; root is then inside it")
_CACHE_DIR = ("cache_dir", CACHE_DIR, "where archive is extracted")
_COLOR_MODE = ("color_mode", "rgb", "'rgb' or 'grayscale'")

SOURCE_FIELDS = {
    "shapes": (
        ("image_size", (64, 64), "(H, W) or int: the size drawn"),
        ("variant", "classify", "'classify' (1 object an image) or 'detect' (1-4 objects)"),
        ("num_classes", 3, "2..6 shape classes (circle, square, triangle, ...)"),
        ("min_objects", None, "fewest objects an image (None: the variant's)"),
        ("max_objects", None, "most objects an image (None: the variant's)"),
        ("num_train", 6000, "training examples"),
        ("num_validation", 1000, "validation examples (0: no such split)"),
        ("num_test", 1000, "test examples (0: no such split)"),
        ("data_seed", 0, "generator seed"),
        ("storage", "tfds", "'tfds' (prepare the cnnlab_shapes builder into data_dir) or 'memory' (draw on the fly)"),
        ("data_dir", None, "TFDS data folder (None: TFDS_DATA_DIR or ~/tensorflow_datasets)"),
    ),
    "image_folder": (
        ("root", None, "folder of <split>/<class>/*.jpg (required unless archive is set)"),
        _ARCHIVE,
        _CACHE_DIR,
        ("classes", None, "subset of class folders, labelled 0..k-1 in this order (None: every folder, sorted)"),
        ("max_per_class", None, "deterministic subsample of each class, drawn from data_seed (None: all)"),
        ("validation_fraction", 0.0, "fraction of each train class carved out as validation when there is no "
                                     "validation folder"),
        ("data_seed", 0, "seed of validation_fraction and max_per_class"),
        _COLOR_MODE,
        ("on_corrupt", "raise", "'raise' on an unreadable image, or 'skip' them (checked when a split opens)"),
    ),
    "npz": (
        ("path", None, "required: a Keras-style .npz with x_train, y_train, x_test, y_test"),
        ("validation_size", 0, "the last N training examples become 'validation'"),
        ("num_classes", None, "None: len(class_names), else the largest label + 1"),
        ("class_names", None, "None: '0', '1', ..."),
    ),
    "voc_folder": (
        ("image_size", None, "required: (H, W) or int, since VOC images differ in size"),
        ("root", None, "a VOC20xx folder or a folder above one (required unless archive is set)"),
        _ARCHIVE,
        _CACHE_DIR,
        ("year", None, "picks VOC<year> when root holds several"),
        ("classes", None, "class names; objects of others are skipped (None: the 20 VOC classes when they cover "
                          "the annotations, else the sorted names found)"),
        ("difficult", "keep", "'keep' objects marked difficult (flagged in box_difficult) or 'drop' them"),
        ("max_boxes", 50, "box rows an image, padded"),
    ),
    "voc_segmentation": (
        ("root", None, "a folder with JPEGImages/, SegmentationClass/, ImageSets/Segmentation/, or one above it "
                       "(required unless archive is set)"),
        _ARCHIVE,
        _CACHE_DIR,
        ("class_names", None, "names by mask value (None: the 21 VOC classes when there are 21, else class_0, ...)"),
        ("num_classes", None, "mask classes (None: len(class_names), else the largest train mask value + 1)"),
        _COLOR_MODE,
    ),
    "tfds": (
        ("data_dir", None, "where datasets are prepared as array_record (None: TFDS_DATA_DIR or "
                           "~/tensorflow_datasets)"),
        ("download", True, "prepare a missing dataset (needs internet and TensorFlow)"),
        ("max_boxes", 64, "'voc': box rows an image, padded (VOC 2012 holds at most 56 objects)"),
        ("pet_border", "class", "'oxford_iiit_pet': the trimap border as class 2 ('class') or 255 ('ignore')"),
    ),
}

# Fields whose '' is a value ("no such split") rather than "unset".
_EMPTY_IS_VALUE = frozenset({"train_split", "eval_split", "test_split"})


def _merged(kind: str) -> tuple:
    """COMMON (with the source's replacements in place), then the source's other fields."""
    own = {entry[0]: entry for entry in SOURCE_FIELDS[kind]}
    common = {entry[0] for entry in COMMON}
    return tuple(own.get(entry[0], entry) for entry in COMMON) + tuple(
        entry for entry in SOURCE_FIELDS[kind] if entry[0] not in common)


_FIELDS = {kind: _merged(kind) for kind in SOURCE_FIELDS}
_DEFAULTS = {kind: {field: default for field, default, _ in entries} for kind, entries in _FIELDS.items()}
_EVERY = frozenset(field for entries in _FIELDS.values() for field, _, _ in entries)


def source_kind(name) -> str:
    """The kind of source (a key of SOURCE_FIELDS) that ``data.name`` selects; 'tfds' for catalog names."""
    from cnnlab.data import _SOURCE_MODULES, source_names
    from cnnlab.data.tfds_source import is_catalog_name

    if not isinstance(name, str) or not name:
        raise ValueError(f"data.name must name a source: one of {source_names()} or 'tfds:NAME'.")
    if name in _SOURCE_MODULES:
        return name
    if is_catalog_name(name):
        return "tfds"
    raise ValueError(f"unknown data.name {name!r}: use one of {source_names()} or 'tfds:NAME'.")


def fields_of(data_name: str) -> tuple[tuple, ...]:
    """``(field, default, comment)`` of every field the source named ``data_name`` takes: COMMON, then its own."""
    return _FIELDS[source_kind(data_name)]


def setting(data_config, field: str, source: str | None = None):
    """``data_config``'s ``field``, or the table's default when it is absent, None or ''.

    '' counts as unset because configs write it for "no value" (a ConfigDict
    field keeps its type), except for the splits, where '' means "none".
    ``source`` is the kind whose table applies (default: the one
    ``data_config.name`` selects); a source module passes its own, as it may be
    given a config without a name. A field missing from that table is a
    programming error: add it to the table first.
    """
    kind = source_kind(data_config.get("name", None)) if source is None else source
    if kind not in _DEFAULTS:
        raise ValueError(f"unknown data source kind {kind!r}: use one of {tuple(SOURCE_FIELDS)}.")
    defaults = _DEFAULTS[kind]
    if field not in defaults:
        raise ValueError(
            f"{field!r} is not a field of data source {kind!r} (known: {sorted(defaults)}): add it to "
            f"cnnlab.data.fields.SOURCE_FIELDS[{kind!r}] (or COMMON) before reading it."
        )
    value = data_config.get(field, None)
    if value is None or (isinstance(value, str) and not value and field not in _EMPTY_IS_VALUE):
        return defaults[field]
    return value


def _hint(field: str, known: list[str]) -> str:
    close = difflib.get_close_matches(field, known, n=1)
    if close:
        return f" (did you mean {close[0]}?)"
    close = difflib.get_close_matches(field, sorted(_EVERY - set(known)), n=1)
    if close:
        owners = [kind for kind, defaults in _DEFAULTS.items() if close[0] in defaults]
        return f" (did you mean {close[0]}, a field of {', '.join(owners)}?)"
    return ""


def check(data_config) -> str:
    """The kind of source ``data_config`` names; raises a ValueError naming every ``config.data.<field>``
    that no data source knows, with the closest known name.

    Fields of other sources pass: configs hold them so that
    ``--config.data.name=...`` can switch source (``configs/cifar10_cnn.py``
    keeps image_folder's ``archive`` for that).
    """
    name = data_config.get("name", None)
    kind = source_kind(name)
    known = [field for field, _, _ in _FIELDS[kind]]
    unknown = sorted(key for key in data_config.keys() if key not in _EVERY)
    if unknown:
        named = ", ".join(f"config.data.{key}{_hint(key, known)}" for key in unknown)
        raise ValueError(
            f"unknown field(s) {named} for data source {name!r}: fix the spelling or remove them. "
            f"Its fields are {known} (cnnlab.data.fields)."
        )
    return kind
