"""Input preprocessing of pretrained models, as ``keras.applications`` defines it.

The pipeline produces RGB images in [0, 1]; ``preprocess(images, mode)``
takes those by default (``input_range=1``) or images in 0..255 with
``input_range=255`` (what Keras' ``preprocess_input`` expects), and gives:

- ``'caffe'``: BGR in 0..255 minus the ImageNet means (103.939, 116.779,
  123.68) of B, G, R (VGG16/19, ResNet50/101/152 v1);
- ``'tf'``: scaled to [-1, 1] (Xception, InceptionV3, MobileNet, ResNet v2);
- ``'torch'``: scaled to [0, 1], minus mean (0.485, 0.456, 0.406), divided
  by std (0.229, 0.224, 0.225) (DenseNet);
- ``'efficientnet_lite'``: (x - 127) / 128 on 0..255 (TensorFlow's
  EfficientNet-Lite ``MEAN_RGB``/``STDDEV_RGB``, which the PyTorch ports keep);
- ``'none'``: unchanged 0..255 (Keras' EfficientNet includes its own rescaling).

The mode belongs to the weights, not the architecture: a torchvision
ResNet50 wants 'torch' where Keras' wants 'caffe'; ``weights_table``
entries carry theirs, and ``mode_for`` gives the Keras family's.

Works on numpy and jax arrays, channels last, any leading shape.
``resize(images, size)`` resizes a batch on device with ``jax.image.resize``.
"""
from __future__ import annotations

import numpy as np

MODES = ("caffe", "tf", "torch", "efficientnet_lite", "none")
CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)
TORCH_MEAN = (0.485, 0.456, 0.406)
TORCH_STD = (0.229, 0.224, 0.225)
# keras.applications model families and the mode their preprocess_input uses.
MODEL_MODES = {
    "vgg16": "caffe", "vgg19": "caffe", "resnet50": "caffe", "resnet101": "caffe", "resnet152": "caffe",
    "resnet50v2": "tf", "resnet101v2": "tf", "resnet152v2": "tf", "xception": "tf", "inception_v3": "tf",
    "inception_resnet_v2": "tf", "mobilenet": "tf", "mobilenet_v2": "tf", "nasnet": "tf",
    "densenet121": "torch", "densenet169": "torch", "densenet201": "torch",
    "efficientnet": "none", "efficientnet_lite": "efficientnet_lite",
    # torchvision-only families (Keras publishes no such weights): torchvision's normalisation
    "resnet18": "torch", "resnet34": "torch",
    "vgg11": "torch", "vgg13": "torch", "vgg11_bn": "torch", "vgg13_bn": "torch", "vgg16_bn": "torch",
    "vgg19_bn": "torch",
}


def mode_for(model_name: str) -> str:
    """The preprocessing mode of a keras.applications model family (e.g. 'vgg16' -> 'caffe')."""
    key = model_name.lower()
    if key.startswith("efficientnet"):
        key = "efficientnet_lite" if key.startswith("efficientnet_lite") else "efficientnet"
    if key not in MODEL_MODES:
        raise ValueError(f"no known preprocessing mode for {model_name!r}; known: {sorted(MODEL_MODES)}.")
    return MODEL_MODES[key]


def preprocess(images, mode: str, input_range: float = 1.0):
    """Applies a pretrained model's input preprocessing to RGB ``(..., 3)`` images.

    ``input_range`` is the value of white in ``images``: 1 for the
    pipeline's [0, 1] floats, 255 for raw pixels.
    """
    if mode not in MODES:
        raise ValueError(f"preprocess mode must be one of {MODES}, got {mode!r}.")
    if input_range <= 0:
        raise ValueError(f"input_range must be > 0, got {input_range}.")
    if images.shape[-1] != 3:
        raise ValueError(f"preprocess needs RGB images (..., 3), got shape {images.shape}.")
    dtype = images.dtype if np.issubdtype(images.dtype, np.floating) else np.float32
    pixels = images.astype(dtype) * np.asarray(255.0 / input_range, dtype)  # 0..255
    if mode == "caffe":
        return pixels[..., ::-1] - np.asarray(CAFFE_BGR_MEAN, dtype)
    if mode == "tf":
        return pixels / np.asarray(127.5, dtype) - np.asarray(1.0, dtype)
    if mode == "torch":
        unit = pixels / np.asarray(255.0, dtype)
        return (unit - np.asarray(TORCH_MEAN, dtype)) / np.asarray(TORCH_STD, dtype)
    if mode == "efficientnet_lite":
        return (pixels - np.asarray(127.0, dtype)) / np.asarray(128.0, dtype)
    return pixels


def resize(images, size, method: str = "bilinear", antialias: bool = True):
    """Resizes ``(B, H, W, C)`` images to ``size=(h, w)`` on device (``jax.image.resize``)."""
    import jax

    if images.ndim != 4:
        raise ValueError(f"resize needs images (B, H, W, C), got shape {images.shape}.")
    height, width = (size, size) if isinstance(size, int) else tuple(size)
    shape = (images.shape[0], int(height), int(width), images.shape[3])
    return jax.image.resize(images, shape, method=method, antialias=antialias)
