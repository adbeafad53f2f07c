"""Box areas, IoU and generalised IoU for (x1, y1, x2, y2) boxes.

Continuous coordinates: a box's area is (x2 - x1) * (y2 - y1) with no +1
pixel term (the modern COCO convention). Boxes with x2 < x1 or y2 < y1 have
zero area. Where the union is empty (two degenerate boxes) IoU is 0 rather
than nan, so padding boxes are safe inside losses and matching. Each function
takes numpy or jax arrays and returns the same kind.
"""
from cnnlab.boxes.namespace import array_namespace, as_boxes


def box_area(boxes):
    """Areas of xyxy boxes: (..., 4) -> (...); inverted boxes count as 0."""
    boxes = as_boxes(boxes)
    xp = array_namespace(boxes)
    w = xp.maximum(boxes[..., 2] - boxes[..., 0], 0)
    h = xp.maximum(boxes[..., 3] - boxes[..., 1], 0)
    return w * h


def _safe_divide(xp, num, den):
    """num / den where den > 0, else 0 (and no nan gradients through the 0 branch)."""
    positive = den > 0
    return xp.where(positive, num / xp.where(positive, den, 1), 0)


def _intersection(xp, a, b):
    """Intersection areas of boxes that broadcast against each other."""
    w = xp.minimum(a[..., 2], b[..., 2]) - xp.maximum(a[..., 0], b[..., 0])
    h = xp.minimum(a[..., 3], b[..., 3]) - xp.maximum(a[..., 1], b[..., 1])
    return xp.maximum(w, 0) * xp.maximum(h, 0)


def _enclosing_area(xp, a, b):
    """Area of the smallest box holding both boxes (broadcasting)."""
    w = xp.maximum(a[..., 2], b[..., 2]) - xp.minimum(a[..., 0], b[..., 0])
    h = xp.maximum(a[..., 3], b[..., 3]) - xp.minimum(a[..., 1], b[..., 1])
    return xp.maximum(w, 0) * xp.maximum(h, 0)


def _iou_terms(a, b):
    xp = array_namespace(a, b)
    inter = _intersection(xp, a, b)
    union = box_area(a) + box_area(b) - inter
    return xp, inter, union


def _pair(boxes_a, boxes_b):
    """Boxes (..., N, 4) and (..., M, 4) expanded to broadcast as (..., N, M, 4)."""
    a = as_boxes(boxes_a, "boxes_a")
    b = as_boxes(boxes_b, "boxes_b")
    if a.ndim < 2 or b.ndim < 2:
        raise ValueError(
            f"pairwise IoU needs box lists of shape (..., N, 4) and (..., M, 4), got "
            f"{a.shape} and {b.shape}; add a leading axis for a single box."
        )
    return a[..., :, None, :], b[..., None, :, :]


def pairwise_iou(boxes_a, boxes_b):
    """IoU of every box in ``boxes_a`` (..., N, 4) with every box in ``boxes_b`` (..., M, 4) -> (..., N, M)."""
    a, b = _pair(boxes_a, boxes_b)
    xp, inter, union = _iou_terms(a, b)
    return _safe_divide(xp, inter, union)


def pairwise_giou(boxes_a, boxes_b):
    """Generalised IoU (Rezatofighi et al. 2019) for all pairs -> (..., N, M), in [-1, 1].

    GIoU = IoU - (C - U) / C with C the enclosing box area; where C is 0 (both
    boxes degenerate at one point) GIoU equals IoU, i.e. 0.
    """
    a, b = _pair(boxes_a, boxes_b)
    xp, inter, union = _iou_terms(a, b)
    enclosing = _enclosing_area(xp, a, b)
    return _safe_divide(xp, inter, union) - _safe_divide(xp, enclosing - union, enclosing)


def elementwise_iou(boxes_a, boxes_b):
    """IoU of matching boxes: shapes (..., 4) that broadcast -> (...)."""
    a = as_boxes(boxes_a, "boxes_a")
    b = as_boxes(boxes_b, "boxes_b")
    xp, inter, union = _iou_terms(a, b)
    return _safe_divide(xp, inter, union)


def elementwise_giou(boxes_a, boxes_b):
    """Generalised IoU of matching boxes: shapes (..., 4) that broadcast -> (...)."""
    a = as_boxes(boxes_a, "boxes_a")
    b = as_boxes(boxes_b, "boxes_b")
    xp, inter, union = _iou_terms(a, b)
    enclosing = _enclosing_area(xp, a, b)
    return _safe_divide(xp, inter, union) - _safe_divide(xp, enclosing - union, enclosing)
