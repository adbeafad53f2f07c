"""Box <-> delta coding against anchors (SSD / Faster R-CNN parameterisation).

For a box and an anchor in centre form (cx, cy, w, h):
  t = ((cx - cx_a) / w_a / v0, (cy - cy_a) / h_a / v1, log(w / w_a) / v2, log(h / h_a) / v3)
with ``variances`` v. SSD uses v = (0.1, 0.1, 0.2, 0.2); Faster R-CNN's box
head weights (10, 10, 5, 5) are the same numbers as 1 / v, and its RPN uses
v = (1, 1, 1, 1). Boxes and anchors are (x1, y1, x2, y2) in one coordinate
system (normalised or pixels). Numpy or jax arrays in, same kind out.
"""
import math

from cnnlab.boxes.formats import cxcywh_to_xyxy, xyxy_to_cxcywh
from cnnlab.boxes.namespace import array_namespace, as_array, as_boxes

SSD_VARIANCES = (0.1, 0.1, 0.2, 0.2)
# torchvision's clamp on predicted log-scales: exp() of larger values overflows
# into boxes thousands of times the anchor.
DEFAULT_MAX_LOG_SCALE = math.log(1000.0 / 16)


def _variances(xp, variances, dtype):
    v = xp.asarray(variances, dtype=dtype)
    if v.shape != (4,):
        raise ValueError(f"variances must hold 4 numbers (x, y, w, h), got shape {v.shape}.")
    return v


def _float_dtype(xp, a):
    return a.dtype if xp.issubdtype(a.dtype, xp.floating) else xp.float32


def encode_boxes(boxes, anchors, variances=SSD_VARIANCES, eps: float = 1e-8):
    """Regression targets of ``boxes`` relative to ``anchors``: (..., 4) each -> (..., 4).

    Widths and heights are floored at ``eps`` so degenerate (e.g. padding)
    boxes give large finite targets instead of -inf; mask them out of the loss.
    """
    boxes = as_boxes(boxes)
    anchors = as_boxes(anchors, "anchors")
    xp = array_namespace(boxes, anchors)
    dtype = _float_dtype(xp, boxes)
    b = xyxy_to_cxcywh(xp.asarray(boxes, dtype=dtype))
    a = xyxy_to_cxcywh(xp.asarray(anchors, dtype=dtype))
    v = _variances(xp, variances, dtype)
    aw = xp.maximum(a[..., 2], eps)
    ah = xp.maximum(a[..., 3], eps)
    tx = (b[..., 0] - a[..., 0]) / aw / v[0]
    ty = (b[..., 1] - a[..., 1]) / ah / v[1]
    tw = xp.log(xp.maximum(b[..., 2], eps) / aw) / v[2]
    th = xp.log(xp.maximum(b[..., 3], eps) / ah) / v[3]
    return xp.stack([tx, ty, tw, th], axis=-1)


def decode_boxes(deltas, anchors, variances=SSD_VARIANCES,
                 max_log_scale: float = DEFAULT_MAX_LOG_SCALE):
    """Boxes (x1, y1, x2, y2) from predicted ``deltas`` against ``anchors``: (..., 4) -> (..., 4).

    The inverse of ``encode_boxes``; log-scales are clamped at ``max_log_scale``
    so untrained heads cannot produce inf boxes.
    """
    deltas = as_array(deltas)
    if deltas.ndim == 0 or deltas.shape[-1] != 4:
        raise ValueError(f"deltas must have shape (..., 4), got {deltas.shape}.")
    anchors = as_boxes(anchors, "anchors")
    xp = array_namespace(deltas, anchors)
    dtype = _float_dtype(xp, deltas)
    a = xyxy_to_cxcywh(xp.asarray(anchors, dtype=dtype))
    v = _variances(xp, variances, dtype)
    cx = deltas[..., 0] * v[0] * a[..., 2] + a[..., 0]
    cy = deltas[..., 1] * v[1] * a[..., 3] + a[..., 1]
    w = xp.exp(xp.minimum(deltas[..., 2] * v[2], max_log_scale)) * a[..., 2]
    h = xp.exp(xp.minimum(deltas[..., 3] * v[3], max_log_scale)) * a[..., 3]
    return cxcywh_to_xyxy(xp.stack([cx, cy, w, h], axis=-1))
