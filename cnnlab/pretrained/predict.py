"""ImageNet prediction with pretrained weights: load an image, preprocess as the source does, top-k.

``load_image`` reads and resizes like ``keras.utils.load_img(path,
target_size=...)`` (PIL, nearest neighbour by default; bilinear for
PyTorch-world weights, as torchvision's transforms); ``sample:<name>``
reads a bundled photograph (``chelsea``, ``coffee``, ...). Inputs are
preprocessed in the mode of the weights' source (``weights_table``:
'caffe' for Keras VGG/ResNet, 'tf' for Xception/InceptionV3/MobileNetV2,
'torch' for torchvision, 'efficientnet_lite' for EfficientNet-Lite).
``pretrained_classifier`` builds the model from its shapes alone and fills
it from the weights, so a 138M-parameter VGG16 is never randomly
initialised first, and a file without the classifier is refused instead of
predicting with random weights.
"""
from __future__ import annotations

import os

import jax
import numpy as np
from PIL import Image, UnidentifiedImageError

from cnnlab.data.preprocess import mode_for, preprocess
from cnnlab.ops.images import SAMPLE_PREFIX, sample_image
from cnnlab.pretrained import pretrained_model, source_of
from cnnlab.pretrained.imagenet import decode_predictions

INTERPOLATIONS = {"nearest": Image.NEAREST, "bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC}


def _entry(model_name: str, weights: str):
    """The weights_table entry of these weights, or None (a cnnlab checkpoint, an unknown file)."""
    try:
        return source_of(model_name, weights)
    except ValueError:
        return None


def input_size(model_name: str, weights: str = "imagenet") -> int:
    """The ImageNet input side of a model with these weights: 299 for Xception/InceptionV3, 224 for VGG, ..."""
    entry = _entry(model_name, weights)
    return entry.input_size if entry else 224


def interpolation_for(model_name: str, weights: str = "imagenet") -> str:
    """'nearest' for Keras weights (``load_img``'s default), 'bilinear' for PyTorch-world ones."""
    entry = _entry(model_name, weights)
    return "nearest" if entry is None or entry.source == "keras" else "bilinear"


def preprocess_mode(model_name: str, weights: str = "imagenet") -> str:
    """The preprocessing mode of these weights (the Keras family's when the table has no entry)."""
    entry = _entry(model_name, weights)
    return entry.preprocess if entry else mode_for(model_name)


def load_image(path: str, size: int, interpolation: str = "nearest") -> np.ndarray:
    """RGB float32 (size, size, 3) in [0, 1], resized as ``keras.utils.load_img`` does.

    ``path`` may be ``sample:<name>``, a bundled photograph (``cnnlab.ops.images``).
    """
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {sorted(INTERPOLATIONS)}, got {interpolation!r}.")
    if path.startswith(SAMPLE_PREFIX):
        pixels = np.round(sample_image(path[len(SAMPLE_PREFIX):]) * 255.0).astype(np.uint8)
        image = Image.fromarray(pixels)
        if image.size != (size, size):
            image = image.resize((size, size), INTERPOLATIONS[interpolation])
        return np.asarray(image, dtype=np.float32) / np.float32(255.0)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no image at {path!r}.")
    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
            if image.size != (size, size):
                image = image.resize((size, size), INTERPOLATIONS[interpolation])
            pixels = np.asarray(image, dtype=np.float32)
    except UnidentifiedImageError as e:
        raise ValueError(f"{path} is not an image PIL can read ({e}).") from e
    return pixels / np.float32(255.0)  # (size, size, 3)


def pretrained_classifier(model_name: str, weights: str, num_classes: int = 1000):
    """(model, variables) of an include_top model filled entirely from ``weights``."""
    model, variables, _ = pretrained_model(model_name, weights, num_classes=num_classes)
    return model, variables


def predict_probs(model, variables, images, model_name: str, mode: str | None = None) -> np.ndarray:
    """Class probabilities (B, classes) of RGB images (B, H, W, 3) in [0, 1].

    ``mode``: the preprocessing of the weights (default: the Keras family's).
    """
    x = preprocess(np.asarray(images, np.float32), mode or mode_for(model_name))  # (B, H, W, 3)
    logits = jax.jit(lambda v, x: model.apply(v, x, train=False))(variables, x)
    return np.asarray(jax.nn.softmax(logits, axis=-1))


def load_images(model_name: str, weights: str, image_paths) -> np.ndarray:
    """(B, size, size, 3) in [0, 1]: the images at the input size and resampling of these weights."""
    size, method = input_size(model_name, weights), interpolation_for(model_name, weights)
    return np.stack([load_image(p, size, method) for p in image_paths])


def classify_files(model_name: str, weights: str, image_paths, top: int = 5):
    """Per image, the ``top`` ImageNet classes (wnid, name, prob) and the full probabilities."""
    model, variables = pretrained_classifier(model_name, weights)
    images = load_images(model_name, weights, image_paths)
    probs = predict_probs(model, variables, images, model_name, preprocess_mode(model_name, weights))
    return decode_predictions(probs, top=top), probs
