"""Loading, converting and saving single images for the filter lessons.

Images are float32 numpy arrays in [0, 1]: colour (H, W, 3) or grey (H, W).
Greyscale is the plain channel mean, as the lessons' ``flatten`` did.
Bundled real photographs come from scikit-image (``astronaut``, ``chelsea``
the cat, ``coffee``) and, when scikit-learn is installed, from its sample
images (``china``, ``flower``); none needs a download.
"""
import os

import numpy as np
from PIL import Image

SAMPLE_PREFIX = "sample:"
_SKIMAGE_SAMPLES = ("astronaut", "chelsea", "coffee")
_SKLEARN_SAMPLES = {"china": "china.jpg", "flower": "flower.jpg"}
SAMPLE_IMAGES = _SKIMAGE_SAMPLES + tuple(_SKLEARN_SAMPLES)


def to_float(image):
    """uint8 [0, 255] or uint16 [0, 65535] -> float32 [0, 1]; floating arrays become float32 unchanged."""
    image = np.asarray(image)
    if image.dtype == np.uint8:
        return image.astype(np.float32) / 255.0
    if image.dtype == np.uint16:
        return image.astype(np.float32) / 65535.0
    if np.issubdtype(image.dtype, np.floating):
        return image.astype(np.float32)
    raise ValueError(
        f"image must be uint8, uint16 or floating point, got dtype {image.dtype}")


def to_grey(image):
    """(H, W, C) -> (H, W) by averaging the channels; a grey (H, W) image is returned as is."""
    image = np.asarray(image)
    if image.ndim == 2:
        return image
    if image.ndim != 3:
        raise ValueError(f"image must be (H, W) or (H, W, C), got shape {image.shape}")
    dtype = np.float64 if image.dtype == np.float64 else np.float32
    return image.mean(axis=-1, dtype=dtype)


def _finish(rgb, flatten):
    """float32 (H, W, 3) -> itself, or grey (H, W) when ``flatten``."""
    return to_grey(rgb) if flatten else rgb


def load_image(path, flatten=False):
    """Reads an image file as float32 (H, W, 3) in [0, 1], or grey (H, W) with ``flatten=True``.

    Grey and palette files are expanded to RGB and alpha is dropped, so a
    colour result always has 3 channels.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"image file not found: {path}")
    try:
        with Image.open(path) as im:
            im.load()  # decode now, so truncated files fail here
            if im.mode.startswith("I;16"):
                grey = to_float(np.asarray(im, dtype=np.uint16))  # (H, W)
                rgb = np.repeat(grey[:, :, None], 3, axis=-1)
            else:
                rgb = to_float(np.asarray(im.convert("RGB")))  # (H, W, 3)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise ValueError(f"cannot read image {path}: {err}") from err
    return _finish(rgb, flatten)


def sample_image(name, flatten=False):
    """A bundled real photograph as float32 (H, W, 3) in [0, 1] (grey (H, W) with ``flatten``)."""
    if name in _SKIMAGE_SAMPLES:
        import skimage.data

        rgb = getattr(skimage.data, name)()  # (H, W, 3) uint8
    elif name in _SKLEARN_SAMPLES:
        try:
            from sklearn.datasets import load_sample_image
        except ImportError as err:
            raise ImportError(
                f"sample image {name!r} comes with scikit-learn, which is not installed; "
                f"pip install scikit-learn, or use one of {', '.join(_SKIMAGE_SAMPLES)}") from err
        rgb = load_sample_image(_SKLEARN_SAMPLES[name])  # (H, W, 3) uint8
    else:
        raise ValueError(
            f"unknown sample image {name!r}; available: {', '.join(SAMPLE_IMAGES)}")
    return _finish(to_float(rgb), flatten)


def image_from_source(source, flatten=False):
    """Loads ``'sample:<name>'`` as a bundled photograph, anything else as a file path."""
    source = os.fspath(source)
    if source.startswith(SAMPLE_PREFIX):
        return sample_image(source[len(SAMPLE_PREFIX):], flatten=flatten)
    return load_image(source, flatten=flatten)


def output_stem(source):
    """A path stem for files derived from an image: 'photo' for 'photo.jpg', 'sample_chelsea' for 'sample:chelsea'."""
    source = os.fspath(source)
    if source.startswith(SAMPLE_PREFIX):
        return source.replace(":", "_")
    return os.path.splitext(source)[0]


def save_png(path, array):
    """Writes (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) as a PNG; floats are clipped to [0, 1].

    Creates missing parent folders. Returns the path.
    """
    path = os.fspath(path)
    array = np.asarray(array)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
        raise ValueError(
            f"save_png needs (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got shape {array.shape}")
    if np.issubdtype(array.dtype, np.floating):
        if not np.all(np.isfinite(array)):
            raise ValueError("save_png got NaN or infinite values; clean the array first")
        array = np.round(np.clip(array, 0.0, 1.0) * 255.0).astype(np.uint8)
    elif array.dtype != np.uint8:
        raise ValueError(f"save_png needs uint8 or floats in [0, 1], got dtype {array.dtype}")
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    Image.fromarray(array).save(path, format="PNG")
    return path


__all__ = [
    "SAMPLE_IMAGES",
    "load_image",
    "sample_image",
    "image_from_source",
    "save_png",
    "to_grey",
    "to_float",
]
