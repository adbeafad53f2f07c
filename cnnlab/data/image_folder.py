"""Image folders in the classic layout ``root/<split>/<class>/*.jpg``, streamed from disk.

Class names are the sorted sub-folder names of ``root/train`` (or of the
split's folder when there is no train folder), unless ``data.classes``
picks a subset, in which case labels are 0..k-1 in the given order. Files
are decoded with Pillow inside Grain's map (RGB or grayscale), resized to
``data.image_size``. A file that cannot be decoded raises a ValueError that
names it (``data.on_corrupt='raise'``, the default); with
``data.on_corrupt='skip'`` every file is checked once when the split is
opened (JPEGs at reduced scale, so quickly) and unreadable ones are left
out with a warning.

Splits: ``train``, ``validation`` (folder ``validation``, ``val`` or
``valid``), ``test``. Without a validation folder, ``data.validation_fraction``
carves one from train, per class and deterministically from
``data.data_seed``; ``data.max_per_class`` subsamples each class the same way.

Helpers: :func:`make_splits` copies a flat folder of ``<class>.<n>.jpg``
files into ``dst/<split>/<class>/`` (the cats-vs-dogs lesson), and
:func:`extract_archive` unpacks a ``.tar.gz`` of folders once into a cache.
"""
from __future__ import annotations

import functools
import logging
import os
import re
import shutil
import tarfile
from pathlib import Path

import numpy as np

from cnnlab.data import fields
from cnnlab.data.decode import color_mode, image_size_pair, is_readable_image, read_image
from cnnlab.data.pipeline import DatasetInfo, SplitSource

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".ppm", ".tif", ".tiff")
SPLIT_FOLDERS = {"train": ("train",), "validation": ("validation", "val", "valid"), "test": ("test",)}
ON_CORRUPT = ("raise", "skip")
DEFAULT_COUNTS = {"train": 1000, "validation": 500, "test": 500}

log = logging.getLogger(__name__)


def _split_dir(root: Path, split: str) -> Path | None:
    if split not in SPLIT_FOLDERS:
        raise ValueError(f"image_folder split must be one of {sorted(SPLIT_FOLDERS)}, got {split!r}.")
    for folder in SPLIT_FOLDERS[split]:
        if (root / folder).is_dir():
            return root / folder
    return None


def _class_dirs(folder: Path) -> list[str]:
    return sorted(entry.name for entry in folder.iterdir() if entry.is_dir() and not entry.name.startswith("."))


def _images_in(folder: Path) -> list[str]:
    if not folder.is_dir():
        return []
    return sorted(os.fspath(p) for p in folder.iterdir()
                  if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def _resolve_classes(root: Path, split_dir: Path, classes) -> tuple[str, ...]:
    reference = _split_dir(root, "train") or split_dir
    found = _class_dirs(reference)
    if classes is None:
        if not found:
            raise ValueError(f"no class folders in {reference}: expected {reference}/<class>/*.jpg.")
        return tuple(found)
    classes = tuple(str(c) for c in classes)
    missing = [c for c in classes if c not in found]
    if missing or len(set(classes)) != len(classes) or not classes:
        raise ValueError(
            f"data.classes={list(classes)} must name distinct class folders of {reference}; "
            f"missing {missing}, available {found}."
        )
    return classes


def _carve(files: list[str], fraction: float, seed: int, class_index: int) -> tuple[list[str], list[str]]:
    """Splits one class's files into (train, validation) deterministically."""
    order = np.random.default_rng([seed, 0, class_index]).permutation(len(files))
    n_val = int(round(fraction * len(files)))
    chosen = set(order[:n_val].tolist())
    train = [f for i, f in enumerate(files) if i not in chosen]
    val = [f for i, f in enumerate(files) if i in chosen]
    return train, val


def _subsample(files: list[str], limit: int | None, seed: int, class_index: int) -> list[str]:
    if limit is None or len(files) <= limit:
        return files
    keep = np.sort(np.random.default_rng([seed, 1, class_index]).choice(len(files), limit, replace=False))
    return [files[i] for i in keep]


def list_split(
    root: str | os.PathLike,
    split: str,
    *,
    classes=None,
    validation_fraction: float = 0.0,
    max_per_class: int | None = None,
    data_seed: int = 0,
) -> tuple[list[str], np.ndarray, tuple[str, ...]]:
    """Files of ``split`` under ``root``: ``(paths, labels int32 (n,), class_names)``."""
    root = Path(os.path.expanduser(os.fspath(root)))
    if not root.is_dir():
        raise FileNotFoundError(
            f"image folder root {root} does not exist: set data.root to a folder holding "
            f"<split>/<class>/*.jpg (or data.archive to a .tar.gz of one)."
        )
    if not 0.0 <= float(validation_fraction) < 1.0:
        raise ValueError(f"data.validation_fraction must lie in [0, 1), got {validation_fraction}.")
    if max_per_class is not None and int(max_per_class) < 1:
        raise ValueError(f"data.max_per_class must be >= 1 or None, got {max_per_class}.")
    split_dir = _split_dir(root, split)
    carve = split in ("train", "validation") and validation_fraction > 0 and _split_dir(root, "validation") is None
    if split == "validation" and split_dir is None:
        if not carve:
            raise ValueError(
                f"{root} has no validation folder (validation/, val/ or valid/): set "
                f"data.validation_fraction=0.1 (say) to carve one from train."
            )
        split_dir = _split_dir(root, "train")
    if split_dir is None:
        present = sorted(p.name for p in root.iterdir() if p.is_dir())
        raise ValueError(f"{root} has no {split!r} folder; it holds {present}.")
    class_names = _resolve_classes(root, split_dir, classes)
    paths: list[str] = []
    labels: list[int] = []
    for index, name in enumerate(class_names):
        files = _images_in(split_dir / name)
        if carve:
            train_files, val_files = _carve(files, float(validation_fraction), int(data_seed), index)
            files = val_files if split == "validation" else train_files
        files = _subsample(files, None if max_per_class is None else int(max_per_class), int(data_seed), index)
        paths += files
        labels += [index] * len(files)
    if not paths:
        raise ValueError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) for split {split!r} under {split_dir}.")
    return paths, np.asarray(labels, np.int32), class_names


def _skip_unreadable(paths: list[str], labels: np.ndarray) -> tuple[list[str], np.ndarray]:
    readable = np.asarray([is_readable_image(p) for p in paths], bool)
    bad = [p for p, ok in zip(paths, readable) if not ok]
    if bad:
        log.warning("image_folder: leaving out %d unreadable image(s): %s%s", len(bad),
                    ", ".join(bad[:5]), " ..." if len(bad) > 5 else "")
    return [p for p, ok in zip(paths, readable) if ok], labels[readable]


class ReadImage:
    """Decodes one ``(path, label)`` record into a pipeline record."""

    def __init__(self, mode: str, size):
        self.mode = mode
        self.size = size

    def __call__(self, record) -> dict:
        path, label = record
        return {"image": read_image(path, self.mode, self.size), "label": np.int32(label)}


def open_split(data_config, split: str) -> SplitSource:
    """An image-folder split as a pipeline source (fields: ``cnnlab.data.fields``)."""
    get = functools.partial(fields.setting, data_config, source="image_folder")
    root = get("root")
    if get("archive"):
        extracted = extract_archive(get("archive"), get("cache_dir"))
        root = extracted / root if root else extracted
    if not root:
        raise ValueError("image_folder needs data.root (a folder of <split>/<class>/*.jpg) or data.archive.")
    on_corrupt = get("on_corrupt")
    if on_corrupt not in ON_CORRUPT:
        raise ValueError(f"data.on_corrupt must be one of {ON_CORRUPT}, got {on_corrupt!r}.")
    mode, channels = color_mode(get("color_mode"))
    size = image_size_pair(get("image_size"))
    paths, labels, class_names = list_split(
        root, split, classes=get("classes"), validation_fraction=float(get("validation_fraction")),
        max_per_class=get("max_per_class"), data_seed=int(get("data_seed")),
    )
    if on_corrupt == "skip":
        paths, labels = _skip_unreadable(paths, labels)
        if not paths:
            raise ValueError(f"every image of split {split!r} under {root} is unreadable.")
    transform = ReadImage(mode, size)
    if size is None:
        height, width = transform((paths[0], 0))["image"].shape[:2]
    else:
        height, width = size
    info = DatasetInfo(
        name=f"image_folder:{os.path.basename(os.path.normpath(os.fspath(root)))}",
        split=split,
        num_classes=len(class_names),
        class_names=class_names,
        image_shape=(height, width, channels),
        num_examples=len(paths),
    )
    return SplitSource(records=list(zip(paths, labels.tolist())), transform=transform, info=info)


_NUMBERED = re.compile(r"^(?P<cls>.+)\.(?P<num>\d+)\.(?P<ext>[A-Za-z0-9]+)$")


def make_splits(
    src_dir: str | os.PathLike,
    dst_dir: str | os.PathLike,
    counts: dict[str, int] | None = None,
    classes=("cat", "dog"),
) -> dict[str, dict[str, int]]:
    """Copies ``<class>.<n>.jpg`` files of a flat folder into ``dst/<split>/<class>/``.

    Files are taken in order of ``n``: the first ``counts['train']`` of each
    class go to train, the next ``counts['validation']`` to validation, and
    so on in the order of ``counts`` (default 1000/500/500), as in the
    cats-vs-dogs lesson. Running it again copies the same files. Returns
    ``{split: {class: count}}``.
    """
    counts = dict(DEFAULT_COUNTS if counts is None else counts)
    if any(int(c) < 0 for c in counts.values()):
        raise ValueError(f"make_splits counts must be >= 0, got {counts}.")
    src, dst = Path(src_dir).expanduser(), Path(dst_dir).expanduser()
    if not src.is_dir():
        raise FileNotFoundError(f"make_splits source folder {src} does not exist.")
    numbered: dict[str, list[tuple[int, str]]] = {str(c): [] for c in classes}
    for entry in src.iterdir():
        match = _NUMBERED.match(entry.name)
        if match and match["cls"] in numbered and entry.is_file():
            numbered[match["cls"]].append((int(match["num"]), entry.name))
    need = sum(int(c) for c in counts.values())
    plan: dict[str, dict[str, list[str]]] = {split: {} for split in counts}
    for name, files in numbered.items():
        files.sort()
        if len(files) < need:
            raise ValueError(
                f"make_splits needs {need} files named {name}.<n>.<ext> in {src} for counts {counts}, "
                f"found {len(files)}."
            )
        start = 0
        for split, count in counts.items():
            plan[split][name] = [f for _, f in files[start:start + int(count)]]
            start += int(count)
    for split, per_class in plan.items():
        for name, files in per_class.items():
            folder = dst / split / name
            folder.mkdir(parents=True, exist_ok=True)
            stray = sorted(set(os.listdir(folder)) - set(files))
            if stray:
                raise ValueError(
                    f"{folder} already holds files outside this split plan ({stray[:3]} ...): "
                    f"choose an empty dst_dir or delete it."
                )
            for file in files:
                shutil.copyfile(src / file, folder / file)
    return {split: {name: len(files) for name, files in per_class.items()} for split, per_class in plan.items()}


def extract_archive(tar_path: str | os.PathLike, cache_dir: str | os.PathLike = fields.CACHE_DIR) -> Path:
    """Unpacks a ``.tar(.gz)`` once into ``cache_dir`` and returns the extracted folder.

    A marker file records the archive's size and modification time; while it
    matches, later calls return at once. Returns the archive's single
    top-level folder (``cache/cifar10_jpg``), or ``cache_dir`` when the
    archive holds several entries at its top.
    """
    archive = Path(tar_path).expanduser()
    if not archive.is_file():
        raise FileNotFoundError(f"archive {archive} does not exist.")
    cache = Path(cache_dir).expanduser()
    cache.mkdir(parents=True, exist_ok=True)
    marker = cache / f".{archive.name}.extracted"
    stamp = f"{archive.stat().st_size} {int(archive.stat().st_mtime)}"
    if marker.is_file():
        recorded = marker.read_text().splitlines()
        if len(recorded) == 2 and recorded[0] == stamp:
            return cache / recorded[1] if recorded[1] else cache
    tops: set[str] = set()
    safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
    try:
        with tarfile.open(archive, "r|*") as tar:  # streamed: one pass over the compressed file
            for member in tar:
                parts = Path(member.name).parts
                if not safe and (member.name.startswith("/") or ".." in parts):
                    raise ValueError(f"unsafe path {member.name!r} in archive {archive}.")
                if parts and parts[0] != ".":
                    tops.add(parts[0])
                tar.extract(member, cache, **safe)
    except tarfile.TarError as error:
        raise ValueError(f"cannot extract {archive}: {error}. Is it a complete .tar/.tar.gz file?") from None
    top = next(iter(tops)) if len(tops) == 1 and (cache / next(iter(tops))).is_dir() else ""
    marker.write_text(f"{stamp}\n{top}\n")
    return cache / top if top else cache
