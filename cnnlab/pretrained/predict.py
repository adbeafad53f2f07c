"""ImageNet prediction with Keras weights: load an image, preprocess like Keras, softmax, top-k.

``load_image`` reads and resizes like ``keras.utils.load_img(path,
target_size=...)`` (PIL, nearest neighbour by default); ``preprocess`` is
``cnnlab.data.preprocess.preprocess`` in the family's mode ('caffe' for
VGG/ResNet, 'tf' for Xception), as ``keras.applications.<m>.preprocess_input``.
``pretrained_classifier`` builds the model from its shapes alone
(``jax.eval_shape``) and fills it from the file, so a 138M-parameter VGG16
is never randomly initialised first, and a file without the classifier is
refused instead of predicting with random weights.
"""
from __future__ import annotations

import os

import jax
import numpy as np
from PIL import Image, UnidentifiedImageError

from cnnlab.data.preprocess import mode_for, preprocess
from cnnlab.pretrained import keras_model, load_weights
from cnnlab.pretrained.imagenet import decode_predictions

INTERPOLATIONS = {"nearest": Image.NEAREST, "bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC}


def input_size(model_name: str) -> int:
    """The ImageNet input side of a Keras family: 299 for Xception, else 224."""
    return 299 if model_name.lower() == "xception" else 224


def load_image(path: str, size: int, interpolation: str = "nearest") -> np.ndarray:
    """RGB float32 (size, size, 3) in [0, 1], resized as ``keras.utils.load_img`` does."""
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {sorted(INTERPOLATIONS)}, got {interpolation!r}.")
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
    model = keras_model(model_name, include_top=True, num_classes=num_classes)
    size = input_size(model_name)
    sample = jax.ShapeDtypeStruct((1, size, size, 3), np.float32)
    abstract = jax.eval_shape(lambda x: model.init(jax.random.PRNGKey(0), x), sample)
    variables = load_weights(dict(abstract), weights, model_name)
    unfilled = [jax.tree_util.keystr(p) for p, leaf in jax.tree_util.tree_leaves_with_path(variables)
                if isinstance(leaf, jax.ShapeDtypeStruct)]
    if unfilled:
        raise ValueError(
            f"{weights} has no weights for {', '.join(unfilled[:3])}{' ...' if len(unfilled) > 3 else ''}: "
            "prediction needs the file with the classifier (not the *_notop.h5 one)."
        )
    return model, variables


def predict_probs(model, variables, images, model_name: str) -> np.ndarray:
    """Class probabilities (B, classes) of RGB images (B, H, W, 3) in [0, 1]."""
    x = preprocess(np.asarray(images, np.float32), mode_for(model_name))  # (B, H, W, 3)
    logits = jax.jit(lambda v, x: model.apply(v, x, train=False))(variables, x)
    return np.asarray(jax.nn.softmax(logits, axis=-1))


def classify_files(model_name: str, weights: str, image_paths, top: int = 5):
    """Per image, the ``top`` ImageNet classes (wnid, name, prob) and the full probabilities."""
    model, variables = pretrained_classifier(model_name, weights)
    size = input_size(model_name)
    images = np.stack([load_image(p, size) for p in image_paths])  # (B, size, size, 3)
    probs = predict_probs(model, variables, images, model_name)
    return decode_predictions(probs, top=top), probs
