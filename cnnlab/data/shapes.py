"""Procedural "shapes" images: cnnlab's embedded dataset, drawn with numpy.

Every example is a pure function of ``(seed, split, index)``: coloured
circles, squares, triangles (and stars, crosses, ellipses with more classes)
on solid, gradient or noise-texture backgrounds, with pixel noise. Objects
never overlap, so each one's box is exactly the bounding box of its mask
pixels, and every example serves classification, detection and
segmentation at once:

- ``image`` uint8 ``(H, W, 3)``;
- ``label`` int32: class of the largest object (the only one when
  ``max_objects == 1``, the default classification variant);
- ``boxes`` float32 ``(max_objects, 4)``: normalised ``(x1, y1, x2, y2)``
  pixel-edge coordinates (``x2 = (last column + 1) / W``), padding rows -1;
- ``box_labels`` int32 ``(max_objects,)``: class per box, -1 for padding;
- ``mask`` uint8 ``(H, W)``: 0 = background, ``k + 1`` = class ``k``
  (so segmentation has ``num_classes + 1`` classes).

Shapes are drawn with vectorised distance fields and half-planes inside each
object's window, about 0.2 ms per 64x64 image.
"""
from __future__ import annotations

import numpy as np

SHAPE_NAMES = ("circle", "square", "triangle", "star", "cross", "ellipse")
BACKGROUNDS = ("solid", "gradient", "noise")
SPLIT_STREAMS = {"train": 0, "validation": 1, "test": 2}
MIN_CLASSES, MAX_CLASSES = 2, len(SHAPE_NAMES)


def class_names(num_classes: int = 3) -> tuple[str, ...]:
    """The first ``num_classes`` shape names (default circle, square, triangle)."""
    _check_num_classes(num_classes)
    return SHAPE_NAMES[:num_classes]


def mask_class_names(num_classes: int = 3) -> tuple[str, ...]:
    """Segmentation classes: background, then the shapes."""
    return ("background",) + class_names(num_classes)


def _check_num_classes(num_classes: int) -> None:
    if not MIN_CLASSES <= int(num_classes) <= MAX_CLASSES:
        raise ValueError(
            f"shapes num_classes={num_classes} is out of range: choose "
            f"{MIN_CLASSES}..{MAX_CLASSES} (classes are {', '.join(SHAPE_NAMES)})."
        )


def check_settings(image_size, num_classes: int, min_objects: int, max_objects: int) -> tuple[int, int]:
    """Validates generator settings; returns the image size as ``(H, W)``."""
    _check_num_classes(num_classes)
    height, width = _size_pair(image_size)
    if height < 16 or width < 16:
        raise ValueError(f"shapes image_size={image_size} is too small: use at least 16x16.")
    if not 1 <= int(min_objects) <= int(max_objects):
        raise ValueError(
            f"shapes needs 1 <= min_objects <= max_objects, got min_objects={min_objects}, "
            f"max_objects={max_objects}."
        )
    if int(max_objects) > 16:
        raise ValueError(f"shapes max_objects={max_objects} is too many: use at most 16.")
    return height, width


def _size_pair(image_size) -> tuple[int, int]:
    if isinstance(image_size, (int, np.integer)):
        return int(image_size), int(image_size)
    size = tuple(int(s) for s in image_size)
    if len(size) != 2:
        raise ValueError(f"image_size must be an int or (height, width), got {image_size!r}.")
    return size


def _stream(split: str) -> int:
    if split not in SPLIT_STREAMS:
        raise ValueError(f"shapes split must be one of {sorted(SPLIT_STREAMS)}, got {split!r}.")
    return SPLIT_STREAMS[split]


# --------------------------------------------------------------------------
# Backgrounds: each returns float (H, W, 3) in 0..255.


def _background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    kind = BACKGROUNDS[rng.integers(len(BACKGROUNDS))]
    if kind == "solid":
        return np.broadcast_to(rng.uniform(0, 255, 3), (height, width, 3)).astype(np.float32)
    if kind == "gradient":
        c0, c1 = rng.uniform(0, 255, (2, 3))
        angle = rng.uniform(0, 2 * np.pi)
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        t = xs / (width - 1) * np.cos(angle) + ys / (height - 1) * np.sin(angle)
        t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)  # (H, W) in [0, 1]
        return (c0 + (c1 - c0) * t[..., None]).astype(np.float32)
    # Noise texture: a coarse random grid, bilinearly upsampled, around a base colour.
    base = rng.uniform(40, 215, 3)
    cells = int(rng.integers(3, 9))
    grid = rng.normal(0.0, rng.uniform(15, 45), (cells, cells, 3))
    return np.clip(base + _upsample(grid, height, width), 0, 255).astype(np.float32)


def _upsample(grid: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear upsampling of a (h, w, C) grid to (height, width, C)."""
    gh, gw = grid.shape[:2]
    ry = np.linspace(0, gh - 1, height)
    rx = np.linspace(0, gw - 1, width)
    y0 = np.minimum(ry.astype(int), gh - 2)
    x0 = np.minimum(rx.astype(int), gw - 2)
    wy = (ry - y0)[:, None, None]
    wx = (rx - x0)[None, :, None]
    top = grid[y0][:, x0] * (1 - wx) + grid[y0][:, x0 + 1] * wx
    bottom = grid[y0 + 1][:, x0] * (1 - wx) + grid[y0 + 1][:, x0 + 1] * wx
    return top * (1 - wy) + bottom * wy


# --------------------------------------------------------------------------
# Shapes: each returns a boolean mask over the window given by (dy, dx), the
# offsets of the window's pixel centres from the object's centre.


def _rotate(dy, dx, angle):
    c, s = np.cos(angle), np.sin(angle)
    return dx * c + dy * s, -dx * s + dy * c  # (u, v) in the shape's own frame


def _shape_mask(kind: str, dy, dx, radius: float, angle: float, aspect: float) -> np.ndarray:
    u, v = _rotate(dy, dx, angle)
    if kind == "circle":
        return u * u + v * v <= radius * radius
    if kind == "square":
        half = radius / np.sqrt(2.0)
        return (np.abs(u) <= half) & (np.abs(v) <= half)
    if kind == "triangle":
        # Equilateral, inscribed in the circle: every edge lies radius/2 from the centre.
        inside = np.ones(u.shape, bool)
        for j in range(3):
            normal = np.pi / 2 + 2 * np.pi * j / 3 + np.pi  # points at the edge opposite vertex j
            inside &= u * np.cos(normal) + v * np.sin(normal) <= radius / 2
        return inside
    if kind == "star":
        # Five points; radial polygon function between an inner and an outer vertex.
        inner = 0.45 * radius
        half_step = np.pi / 5
        theta = np.mod(np.arctan2(v, u), 2 * half_step)
        gamma = np.abs(theta - half_step)  # angle from the nearest inner vertex
        edge = inner * radius * np.sin(half_step) / (
            inner * np.sin(gamma) + radius * np.sin(half_step - gamma)
        )
        return u * u + v * v <= edge * edge
    if kind == "cross":
        arm = 0.3 * radius
        au, av = np.abs(u), np.abs(v)
        return ((au <= arm) & (av <= radius)) | ((av <= arm) & (au <= radius))
    if kind == "ellipse":
        return (u / radius) ** 2 + (v / (aspect * radius)) ** 2 <= 1.0
    raise ValueError(f"unknown shape {kind!r}")


def _place(rng, height, width, radius, placed) -> tuple[float, float] | None:
    """A centre keeping the object inside the image and apart from ``placed``."""
    for _ in range(30):
        cy = rng.uniform(radius + 1, height - 2 - radius)
        cx = rng.uniform(radius + 1, width - 2 - radius)
        if all(np.hypot(cy - py, cx - px) > radius + pr + 2 for py, px, pr in placed):
            return cy, cx
    return None


def _object_colour(rng, region_mean: np.ndarray) -> np.ndarray:
    """A random colour that stands out from the background under the object."""
    best, best_distance = None, -1.0
    for _ in range(12):
        colour = rng.uniform(0, 255, 3)
        distance = float(np.linalg.norm(colour - region_mean))
        if distance > best_distance:
            best, best_distance = colour, distance
        if distance >= 110:
            break
    return best


def draw(
    seed: int,
    index: int,
    *,
    split: str = "train",
    image_size=(64, 64),
    num_classes: int = 3,
    min_objects: int = 1,
    max_objects: int = 1,
) -> dict[str, np.ndarray]:
    """Draws example ``index`` of ``split``: a pure function of its arguments."""
    height, width = check_settings(image_size, num_classes, min_objects, max_objects)
    rng = np.random.default_rng([int(seed), _stream(split), int(index)])
    image = _background(rng, height, width).copy()  # (H, W, 3) float 0..255
    mask = np.zeros((height, width), np.uint8)
    boxes = np.full((max_objects, 4), -1.0, np.float32)
    box_labels = np.full((max_objects,), -1, np.int32)

    count = int(rng.integers(min_objects, max_objects + 1))
    short = min(height, width)
    low, high = (0.14, 0.34) if max_objects == 1 else (0.08, 0.2)
    placed, areas = [], []
    for _ in range(count):
        radius = rng.uniform(low, high) * short
        centre = _place(rng, height, width, radius, placed)
        if centre is None:  # no room left: keep the objects drawn so far
            if placed:
                break
            radius, centre = low * short, (height / 2, width / 2)
        cy, cx = centre
        kind_index = int(rng.integers(num_classes))
        angle = rng.uniform(0, 2 * np.pi)
        aspect = rng.uniform(0.4, 0.6)
        y0, y1 = int(np.floor(cy - radius)) - 1, int(np.ceil(cy + radius)) + 2
        x0, x1 = int(np.floor(cx - radius)) - 1, int(np.ceil(cx + radius)) + 2
        y0, x0, y1, x1 = max(y0, 0), max(x0, 0), min(y1, height), min(x1, width)
        dy = np.arange(y0, y1, dtype=np.float32)[:, None] - cy
        dx = np.arange(x0, x1, dtype=np.float32)[None, :] - cx
        window = _shape_mask(SHAPE_NAMES[kind_index], dy, dx, radius, angle, aspect)
        if not window.any():  # a sub-pixel shape: fall back to its centre pixel
            window[int(cy) - y0, int(cx) - x0] = True
        region = image[y0:y1, x0:x1]
        region[window] = _object_colour(rng, region[window].mean(axis=0))
        mask[y0:y1, x0:x1][window] = kind_index + 1
        rows = np.flatnonzero(window.any(axis=1)) + y0
        cols = np.flatnonzero(window.any(axis=0)) + x0
        slot = len(placed)
        boxes[slot] = (cols[0] / width, rows[0] / height, (cols[-1] + 1) / width, (rows[-1] + 1) / height)
        box_labels[slot] = kind_index
        placed.append((cy, cx, radius))
        areas.append(int(window.sum()))

    image += rng.normal(0.0, rng.uniform(2.0, 8.0), image.shape)
    return {
        "image": np.clip(np.rint(image), 0, 255).astype(np.uint8),
        "label": np.int32(box_labels[int(np.argmax(areas))]),
        "boxes": boxes,
        "box_labels": box_labels,
        "mask": mask,
    }


def generate(
    n: int,
    seed: int = 0,
    *,
    split: str = "train",
    start: int = 0,
    image_size=(64, 64),
    num_classes: int = 3,
    min_objects: int = 1,
    max_objects: int = 1,
) -> dict[str, np.ndarray]:
    """Examples ``start .. start + n - 1`` of ``split`` stacked into arrays.

    Returns ``image`` uint8 ``(n, H, W, 3)``, ``label`` int32 ``(n,)``,
    ``boxes`` float32 ``(n, max_objects, 4)``, ``box_labels`` int32
    ``(n, max_objects)`` and ``mask`` uint8 ``(n, H, W)``.
    """
    if n < 0:
        raise ValueError(f"generate needs n >= 0, got {n}.")
    settings = dict(split=split, image_size=image_size, num_classes=num_classes,
                    min_objects=min_objects, max_objects=max_objects)
    height, width = check_settings(image_size, num_classes, min_objects, max_objects)
    if n == 0:
        return {
            "image": np.zeros((0, height, width, 3), np.uint8),
            "label": np.zeros((0,), np.int32),
            "boxes": np.zeros((0, max_objects, 4), np.float32),
            "box_labels": np.zeros((0, max_objects), np.int32),
            "mask": np.zeros((0, height, width), np.uint8),
        }
    examples = [draw(seed, start + i, **settings) for i in range(n)]
    return {key: np.stack([ex[key] for ex in examples]) for key in examples[0]}
