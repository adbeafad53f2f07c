"""PASCAL VOC segmentation folders: JPEGImages, SegmentationClass, ImageSets/Segmentation.

Layout (VOC2007/VOC2012 and sets published in the same layout)::

    <root>/JPEGImages/<id>.jpg
    <root>/SegmentationClass/<id>.png      class index per pixel, 255 = border/ignore
    <root>/ImageSets/Segmentation/<split>.txt   one <id> a line

Masks are read as class indices: palette ('P') and grayscale ('L') PNGs
give their stored indices directly (never the palette colours); RGB masks
are mapped back through the VOC colour map, with the border colour
(224, 224, 192) becoming 255. A value that is neither a class index nor 255
raises a ValueError naming the file.

``data`` fields (``data.name = 'voc_segmentation'``; defaults in
``cnnlab.data.fields``): ``root`` (the folder above, or any folder with
exactly one such folder below it, e.g. a VOCdevkit or an extracted
``archive``), ``image_size`` (images resized bilinearly, masks by nearest
neighbour; None keeps the stored size, which must then match),
``class_names``, ``num_classes``, ``color_mode``.
Splits are the file names in ImageSets/Segmentation ('train', 'val',
'trainval', 'test'); 'validation' reads val.txt when there is no
validation.txt.

Records: ``image`` uint8 (H, W, C), ``mask`` uint8 (H, W), ``label`` the
most frequent non-zero class of the mask (0 when there is none), since VOC
class 0 is background.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np

from cnnlab.data import fields
from cnnlab.data.decode import color_mode, image_size_pair, read_image, resize_image, resize_mask
from cnnlab.data.pipeline import MASK_IGNORE, DatasetInfo, SplitSource

VOC_CLASSES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
    "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
)
VOC_BORDER_COLOUR = (224, 224, 192)
SPLIT_ALIASES = {"validation": "val"}
REQUIRED = ("JPEGImages", "SegmentationClass", os.path.join("ImageSets", "Segmentation"))


def voc_colormap(n: int = 256) -> np.ndarray:
    """The PASCAL VOC label colour map, uint8 (n, 3): class k's RGB colour."""
    colours = np.zeros((n, 3), np.uint8)
    for k in range(n):
        c, r, g, b = k, 0, 0, 0
        for shift in range(7, -1, -1):
            r |= ((c >> 0) & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        colours[k] = (r, g, b)
    return colours


def _is_voc_folder(path: Path) -> bool:
    return all((path / part).is_dir() for part in REQUIRED)


def find_root(path: str | os.PathLike) -> Path:
    """The VOC segmentation folder at or up to three levels below ``path``."""
    path = Path(os.path.expanduser(os.fspath(path)))
    if not path.is_dir():
        raise FileNotFoundError(
            f"VOC segmentation root {path} does not exist: set data.root to a folder holding "
            f"JPEGImages/, SegmentationClass/ and ImageSets/Segmentation/ (or data.archive to a .tar.gz).")
    if _is_voc_folder(path):
        return path
    found, level = [], [path]
    for _ in range(3):
        level = [c for p in level for c in sorted(p.iterdir()) if c.is_dir()]
        found = [c for c in level if _is_voc_folder(c)]
        if found:
            break
    if len(found) != 1:
        what = f"several: {', '.join(map(str, found))}" if found else "none"
        raise FileNotFoundError(
            f"data.root={path} must be (or contain exactly one) folder with JPEGImages/, "
            f"SegmentationClass/ and ImageSets/Segmentation/; found {what}. Point data.root at one.")
    return found[0]


def split_ids(root: Path, split: str) -> list[str]:
    """Image ids listed in ImageSets/Segmentation/<split>.txt."""
    folder = root / "ImageSets" / "Segmentation"
    path = folder / f"{split}.txt"
    if not path.is_file() and split in SPLIT_ALIASES:
        path = folder / f"{SPLIT_ALIASES[split]}.txt"
    if not path.is_file():
        options = sorted(p.stem for p in folder.glob("*.txt"))
        raise ValueError(f"VOC segmentation split {split!r} has no list {path}; splits here are {options}.")
    ids = [line.split()[0] for line in path.read_text().splitlines() if line.strip()]
    if not ids:
        raise ValueError(f"{path} lists no images.")
    return ids


def read_mask(path: str | os.PathLike) -> np.ndarray:
    """Class indices uint8 (H, W) of a SegmentationClass PNG (see the module docstring)."""
    from PIL import Image

    if not os.path.isfile(path):
        raise FileNotFoundError(f"mask {path} does not exist: every listed id needs SegmentationClass/<id>.png.")
    with Image.open(path) as handle:
        mode = handle.mode
        if mode in ("P", "L", "I", "I;16"):
            values = np.asarray(handle)
        elif mode in ("RGB", "RGBA"):
            values = _colours_to_indices(np.asarray(handle.convert("RGB")), path)
        else:
            raise ValueError(f"mask {path} has PIL mode {mode!r}; expected a palette, grayscale or RGB PNG.")
    if values.ndim != 2 or values.min(initial=0) < 0 or values.max(initial=0) > 255:
        raise ValueError(f"mask {path} must be a 2-D map of values 0..255, got shape {values.shape}.")
    return values.astype(np.uint8)


def _colours_to_indices(rgb: np.ndarray, path) -> np.ndarray:
    colours = voc_colormap(256).astype(np.int64)
    codes = (colours[:, 0] << 16) | (colours[:, 1] << 8) | colours[:, 2]
    lookup = {int(c): k for k, c in enumerate(codes)}
    lookup[(VOC_BORDER_COLOUR[0] << 16) | (VOC_BORDER_COLOUR[1] << 8) | VOC_BORDER_COLOUR[2]] = MASK_IGNORE
    pixels = rgb.astype(np.int64)
    flat = (pixels[..., 0] << 16) | (pixels[..., 1] << 8) | pixels[..., 2]
    uniques, inverse = np.unique(flat, return_inverse=True)
    unknown = [u for u in uniques.tolist() if u not in lookup]
    if unknown:
        u = unknown[0]
        raise ValueError(f"RGB mask {path} holds colour {(u >> 16, (u >> 8) & 255, u & 255)}, which is not in "
                         f"the VOC colour map; save masks as palette or grayscale index PNGs.")
    return np.asarray([lookup[u] for u in uniques.tolist()], np.uint8)[inverse].reshape(flat.shape)


def _max_label(root: Path, ids: list[str]) -> int:
    top = 0
    for image_id in ids:
        values = np.unique(read_mask(root / "SegmentationClass" / f"{image_id}.png"))
        values = values[values != MASK_IGNORE]
        if values.size:
            top = max(top, int(values.max()))
    return top


def _class_names(data_config, root: Path) -> tuple[str, ...]:
    names = fields.setting(data_config, "class_names", source="voc_segmentation")
    count = fields.setting(data_config, "num_classes", source="voc_segmentation")
    if names:
        names = tuple(str(n) for n in names)
        if count is not None and int(count) != len(names):
            raise ValueError(f"data.num_classes={count} disagrees with {len(names)} data.class_names.")
        return names
    if count is None:
        list_dir = root / "ImageSets" / "Segmentation"
        reference = "train" if (list_dir / "train.txt").is_file() else sorted(p.stem for p in list_dir.glob("*.txt"))[0]
        count = _max_label(root, split_ids(root, reference)) + 1
    count = int(count)
    if count < 2:
        raise ValueError(f"a segmentation set needs at least 2 classes, got num_classes={count}.")
    return VOC_CLASSES if count == len(VOC_CLASSES) else tuple(f"class_{k}" for k in range(count))


def resolve_root(data_config) -> Path:
    """The VOC folder named by ``data.root`` and/or ``data.archive``."""
    get = functools.partial(fields.setting, data_config, source="voc_segmentation")
    archive, root = get("archive"), get("root")
    if archive:
        from cnnlab.data.image_folder import extract_archive

        base = extract_archive(archive, get("cache_dir"))
        return find_root(base / root if root else base)
    if not root:
        raise ValueError("voc_segmentation needs data.root (a VOC folder) or data.archive (a .tar.gz of one).")
    return find_root(root)


class VocSegmentationTransform:
    """An image id -> contract record (image, mask, label), resized to ``size``."""

    def __init__(self, root: Path, size, mode: str, num_classes: int):
        self.root = root
        self.size = size
        self.mode = mode
        self.num_classes = num_classes

    def __call__(self, image_id: str) -> dict:
        image_path = self.root / "JPEGImages" / f"{image_id}.jpg"
        mask_path = self.root / "SegmentationClass" / f"{image_id}.png"
        if not image_path.is_file():
            raise FileNotFoundError(f"image {image_path} does not exist (listed in ImageSets/Segmentation).")
        mask = read_mask(mask_path)
        bad = (mask >= self.num_classes) & (mask != MASK_IGNORE)
        if bad.any():
            raise ValueError(f"mask {mask_path} holds value {int(mask[bad][0])}, outside 0..{self.num_classes - 1} "
                             f"and not 255; set data.num_classes/class_names to cover it.")
        image = read_image(image_path, self.mode)
        if image.shape[:2] != mask.shape:
            raise ValueError(f"image {image_path} is {image.shape[:2]} but its mask is {mask.shape}.")
        image, mask = resize_image(image, self.size), resize_mask(mask, self.size)
        counts = np.bincount(mask[mask != MASK_IGNORE].ravel(), minlength=self.num_classes)
        label = int(np.argmax(counts[1:]) + 1) if counts[1:].any() else 0
        return {"image": image, "mask": mask, "label": np.int32(label)}


def open_split(data_config, split: str) -> SplitSource:
    """One split of a VOC segmentation folder as a pipeline source."""
    root = resolve_root(data_config)
    ids = split_ids(root, split)
    names = _class_names(data_config, root)
    size = image_size_pair(fields.setting(data_config, "image_size", source="voc_segmentation"))
    mode, channels = color_mode(fields.setting(data_config, "color_mode", source="voc_segmentation"))
    transform = VocSegmentationTransform(root, size, mode, len(names))
    if size is None:
        first = transform(ids[0])["image"]
        shape = tuple(first.shape)
    else:
        shape = (size[0], size[1], channels)
    info = DatasetInfo(name="voc_segmentation", split=split, num_classes=len(names), class_names=names,
                       image_shape=shape, num_examples=len(ids), mask_class_names=names)
    return SplitSource(records=ids, transform=transform, info=info)
