"""Box coordinate formats and conversions between them.

Formats (last axis of 4):
  ``xyxy``   (x1, y1, x2, y2): corners; the library's internal format.
  ``yxyx``   (y1, x1, y2, x2): corners, rows first, as TFDS and TF detection APIs use.
  ``cxcywh`` (cx, cy, w, h):   centre and size; what anchor coding works in.
  ``xywh``   (x1, y1, w, h):   top-left corner and size; COCO json boxes.
Coordinates are either normalised to [0, 1] of the image side or in pixels;
``to_pixels``/``to_normalized`` move between them. Every function accepts
numpy or jax arrays (also under ``jit``/``vmap``) and returns the same kind.
"""
from cnnlab.boxes.namespace import array_namespace, as_array, as_boxes

FORMATS = ("xyxy", "yxyx", "cxcywh", "xywh")


def _split(boxes):
    return boxes[..., 0], boxes[..., 1], boxes[..., 2], boxes[..., 3]


def _stack(xp, a, b, c, d):
    return xp.stack([a, b, c, d], axis=-1)


def xyxy_to_cxcywh(boxes):
    """(x1, y1, x2, y2) -> (cx, cy, w, h); shape (..., 4) kept."""
    boxes = as_boxes(boxes)
    x1, y1, x2, y2 = _split(boxes)
    return _stack(array_namespace(boxes), (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1)


def cxcywh_to_xyxy(boxes):
    """(cx, cy, w, h) -> (x1, y1, x2, y2); shape (..., 4) kept."""
    boxes = as_boxes(boxes)
    cx, cy, w, h = _split(boxes)
    return _stack(array_namespace(boxes), cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)


def xyxy_to_yxyx(boxes):
    """(x1, y1, x2, y2) -> (y1, x1, y2, x2), the TFDS/TF ``BBoxFeature`` order."""
    boxes = as_boxes(boxes)
    a, b, c, d = _split(boxes)
    return _stack(array_namespace(boxes), b, a, d, c)


def yxyx_to_xyxy(boxes):
    """(y1, x1, y2, x2) -> (x1, y1, x2, y2); the same swap as ``xyxy_to_yxyx``."""
    return xyxy_to_yxyx(boxes)


def xyxy_to_xywh(boxes):
    """(x1, y1, x2, y2) -> (x1, y1, w, h), the COCO json layout."""
    boxes = as_boxes(boxes)
    x1, y1, x2, y2 = _split(boxes)
    return _stack(array_namespace(boxes), x1, y1, x2 - x1, y2 - y1)


def xywh_to_xyxy(boxes):
    """(x1, y1, w, h) -> (x1, y1, x2, y2)."""
    boxes = as_boxes(boxes)
    x1, y1, w, h = _split(boxes)
    return _stack(array_namespace(boxes), x1, y1, x1 + w, y1 + h)


_TO_XYXY = {
    "xyxy": lambda b: as_boxes(b),
    "yxyx": yxyx_to_xyxy,
    "cxcywh": cxcywh_to_xyxy,
    "xywh": xywh_to_xyxy,
}
_FROM_XYXY = {
    "xyxy": lambda b: b,
    "yxyx": xyxy_to_yxyx,
    "cxcywh": xyxy_to_cxcywh,
    "xywh": xyxy_to_xywh,
}


def _check_format(fmt: str, name: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"{name}={fmt!r} is not a box format; use one of {FORMATS}.")


def convert(boxes, src: str, dst: str):
    """Converts boxes from format ``src`` to ``dst`` (names in ``FORMATS``)."""
    _check_format(src, "src")
    _check_format(dst, "dst")
    if src == dst:
        return as_boxes(boxes)
    return _FROM_XYXY[dst](_TO_XYXY[src](boxes))


def _scale(boxes, height, width, fmt: str):
    """Per-coordinate (..., 4) factors that map normalised to pixel coordinates."""
    _check_format(fmt, "fmt")
    xp = array_namespace(boxes, height, width)
    dtype = boxes.dtype if xp.issubdtype(boxes.dtype, xp.floating) else xp.float32
    h = xp.asarray(height, dtype=dtype)
    w = xp.asarray(width, dtype=dtype)
    if fmt == "yxyx":
        return _stack(xp, *xp.broadcast_arrays(h, w, h, w))
    return _stack(xp, *xp.broadcast_arrays(w, h, w, h))


def to_pixels(boxes, height, width, fmt: str = "xyxy"):
    """Normalised [0, 1] boxes -> pixel boxes for an image of ``height`` x ``width``.

    ``height``/``width`` are scalars or arrays that broadcast against
    ``boxes[..., 0]`` (e.g. shape (B, 1) for boxes (B, N, 4)).
    """
    boxes = as_boxes(boxes)
    return boxes * _scale(boxes, as_array(height), as_array(width), fmt)


def to_normalized(boxes, height, width, fmt: str = "xyxy"):
    """Pixel boxes -> boxes normalised to [0, 1] of an image of ``height`` x ``width``."""
    boxes = as_boxes(boxes)
    return boxes / _scale(boxes, as_array(height), as_array(width), fmt)


def clip_boxes(boxes, height=1.0, width=1.0):
    """Clips xyxy boxes to the image [0, width] x [0, height] (default: normalised)."""
    boxes = as_boxes(boxes)
    xp = array_namespace(boxes, height, width)
    x1, y1, x2, y2 = _split(boxes)
    return _stack(
        xp,
        xp.clip(x1, 0, width),
        xp.clip(y1, 0, height),
        xp.clip(x2, 0, width),
        xp.clip(y2, 0, height),
    )
