"""Turning image arrays from the data pipeline into something displayable.

Batches hold float32 images in [0, 1] (design contract); decoded files may be
uint8 in [0, 255]. These helpers accept both, and 2-D, (H, W, 1) and
(H, W, 3) layouts, so every drawing function shares one set of rules.
"""
import numpy as np


def as_display_image(image, value_range=(0.0, 1.0)) -> np.ndarray:
    """Returns a float image in [0, 1] shaped (H, W) for grey or (H, W, 3) for colour.

    ``value_range`` is the (low, high) pair that maps to (0, 1) for float
    input (use (-1, 1) for tanh generators); uint8 input is divided by 255.
    Values outside the range are clipped.
    """
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]  # (H, W)
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] != 3):
        raise ValueError(
            f"Expected an image shaped (H, W), (H, W, 1) or (H, W, 3); got {arr.shape}. "
            "Pass one NHWC image (index the batch) with 1 or 3 channels.")
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255.0
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise ValueError(f"Image must hold real numbers; got dtype {arr.dtype}.")
    low, high = float(value_range[0]), float(value_range[1])
    if not high > low:
        raise ValueError(f"value_range must be (low, high) with high > low; got {value_range}.")
    scaled = (arr.astype(np.float32) - low) / (high - low)
    return np.clip(np.nan_to_num(scaled, nan=0.0), 0.0, 1.0)


def as_display_batch(images, value_range=(0.0, 1.0)) -> np.ndarray:
    """Stacks ``as_display_image`` over a batch: (N, H, W[, C]) -> (N, H, W) or (N, H, W, 3)."""
    arr = np.asarray(images)
    if arr.ndim not in (3, 4):
        raise ValueError(
            f"Expected a batch of images shaped (N, H, W) or (N, H, W, C); got {arr.shape}.")
    if arr.shape[0] == 0:
        raise ValueError("Got an empty batch of images (N = 0); pass at least one image.")
    return np.stack([as_display_image(a, value_range) for a in arr])


def to_uint8(image01: np.ndarray) -> np.ndarray:
    """Float image in [0, 1] -> uint8 in [0, 255], rounding to nearest."""
    return np.round(np.clip(image01, 0.0, 1.0) * 255.0).astype(np.uint8)
