"""Host-side decoding and resizing of single examples (numpy and Pillow).

These run inside Grain's map on the host, one example at a time, before
batching; device-side batch resizing lives in ``cnnlab.data.preprocess``.
"""
from __future__ import annotations

import os

import numpy as np

COLOR_MODES = {"rgb": ("RGB", 3), "grayscale": ("L", 1)}


def image_size_pair(image_size) -> tuple[int, int] | None:
    """``None``, an int or ``(H, W)`` -> ``None`` or ``(H, W)``; raises on anything else."""
    if image_size is None:
        return None
    if isinstance(image_size, (int, np.integer)):
        size = (int(image_size), int(image_size))
    else:
        try:
            size = tuple(int(s) for s in image_size)
        except TypeError:
            size = ()
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"data.image_size must be None, an int or (height, width), got {image_size!r}.")
    return size


def color_mode(name: str) -> tuple[str, int]:
    """Pillow mode and channel count of a ``color_mode`` ('rgb' or 'grayscale')."""
    if name not in COLOR_MODES:
        raise ValueError(f"data.color_mode must be one of {sorted(COLOR_MODES)}, got {name!r}.")
    return COLOR_MODES[name]


def resize_image(image: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    """Bilinear resize of a uint8 ``(H, W, C)`` image to ``size=(h, w)`` (C = 1 or 3)."""
    from PIL import Image

    image = np.asarray(image)
    if size is None or image.shape[:2] == tuple(size):
        return image
    if image.ndim != 3 or image.shape[-1] not in (1, 3):
        raise ValueError(f"resize_image needs (H, W, 1|3) images, got shape {image.shape}.")
    if image.dtype != np.uint8:
        raise ValueError(f"resize_image needs uint8 images, got {image.dtype}.")
    height, width = size
    plane = image[..., 0] if image.shape[-1] == 1 else image
    resized = np.asarray(Image.fromarray(plane).resize((width, height), Image.BILINEAR))
    return resized[..., None] if image.shape[-1] == 1 else resized


def resize_mask(mask: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    """Nearest-neighbour resize of an integer ``(H, W)`` mask (class ids stay class ids)."""
    from PIL import Image

    mask = np.asarray(mask)
    if size is None or mask.shape[:2] == tuple(size):
        return mask
    if mask.max(initial=0) > 255 or mask.min(initial=0) < 0:
        raise ValueError("resize_mask needs mask values in 0..255.")
    height, width = size
    resized = Image.fromarray(mask.astype(np.uint8)).resize((width, height), Image.NEAREST)
    return np.asarray(resized)


def read_image(path: str | os.PathLike, mode: str = "RGB", size: tuple[int, int] | None = None) -> np.ndarray:
    """Decodes an image file to uint8 ``(H, W, C)`` in Pillow ``mode`` ('RGB' or 'L'), resized to ``size``.

    Raises ValueError naming the file when it cannot be decoded.
    """
    from PIL import Image

    try:
        with Image.open(path) as handle:
            picture = handle.convert(mode)
            if size is not None and picture.size != (size[1], size[0]):
                picture = picture.resize((size[1], size[0]), Image.BILINEAR)
            array = np.asarray(picture)
    except FileNotFoundError:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        raise ValueError(
            f"cannot decode image file {os.fspath(path)}: {error}. Remove or replace the file, "
            f"or set data.on_corrupt='skip' to leave unreadable files out."
        ) from None
    return array[..., None] if array.ndim == 2 else array


def is_readable_image(path: str | os.PathLike) -> bool:
    """True when the file decodes; JPEGs decode at reduced scale, so the check is fast."""
    from PIL import Image

    try:
        with Image.open(path) as handle:
            handle.draft("RGB", (64, 64))
            handle.load()
        return True
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return False


def pad_boxes(boxes: np.ndarray, labels: np.ndarray, max_boxes: int) -> tuple[np.ndarray, np.ndarray]:
    """Pads or truncates ``(n, 4)`` boxes and ``(n,)`` labels to ``max_boxes`` rows (padding -1)."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    labels = np.asarray(labels, np.int32).reshape(-1)
    n = min(len(boxes), len(labels), max_boxes)  # rows beyond max_boxes are dropped
    boxes, labels = boxes[:n], labels[:n]
    out_boxes = np.full((max_boxes, 4), -1.0, np.float32)
    out_labels = np.full((max_boxes,), -1, np.int32)
    out_boxes[: len(boxes)] = boxes
    out_labels[: len(labels)] = labels
    return out_boxes, out_labels
