"""The 1000 ImageNet-1k classes and ``decode_predictions`` like ``keras.applications``.

``imagenet_class_index.json`` (shipped in this package, Keras' file) lists
``{"0": ["n01440764", "tench"], ...}``: the order Keras and Caffe models
predict in. ``read_synset_words`` parses Caffe's ``synset_words.txt``
(``wnid words`` per line) and ``synset_permutation`` maps one order onto the
other, so probabilities of a model trained with either list decode right.
"""
from __future__ import annotations

import functools
import json
import os

import numpy as np

CLASS_INDEX_FILE = os.path.join(os.path.dirname(__file__), "imagenet_class_index.json")
NUM_CLASSES = 1000


@functools.lru_cache(maxsize=1)
def imagenet_classes() -> tuple[tuple[str, str], ...]:
    """(wnid, Keras name) of the 1000 classes, in Keras' output order."""
    with open(CLASS_INDEX_FILE, encoding="utf-8") as f:
        index = json.load(f)
    return tuple((index[str(i)][0], index[str(i)][1]) for i in range(len(index)))


def read_synset_words(path: str) -> list[tuple[str, str]]:
    """(wnid, words) per line of a Caffe ``synset_words.txt``, in file order."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no synset_words file at {path!r} (Caffe's ILSVRC 'wnid words' list).")
    entries = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            line = line.strip()
            if not line:
                continue
            wnid, _, words = line.partition(" ")
            if not (wnid.startswith("n") and wnid[1:].isdigit() and words):
                raise ValueError(f"{path}:{number}: expected 'n<8 digits> words' (a WordNet id, then the names), got {line!r}.")
            entries.append((wnid, words))
    return entries


def synset_permutation(wnids) -> np.ndarray:
    """``perm`` with ``probs_in_keras_order = probs[..., perm]`` for outputs ordered by ``wnids``."""
    position = {wnid: i for i, wnid in enumerate(wnids)}
    keras_wnids = [wnid for wnid, _ in imagenet_classes()]
    missing = [w for w in keras_wnids if w not in position]
    if missing or len(position) != len(keras_wnids):
        raise ValueError(
            f"the class list is not the 1000 ImageNet-1k synsets ({len(position)} classes, "
            f"{len(missing)} Keras wnids missing, e.g. {missing[:3]})."
        )
    return np.asarray([position[w] for w in keras_wnids], dtype=np.int64)


def decode_predictions(probs, top: int = 5, classes=None) -> list[list[tuple[str, str, float]]]:
    """Per image, the ``top`` classes as (wnid, name, probability), most likely first.

    probs: (B, 1000) in Keras' class order (``classes`` overrides the list,
    as (id, name) pairs, for other label sets).
    """
    probs = np.asarray(probs)
    classes = imagenet_classes() if classes is None else tuple(classes)
    if probs.ndim != 2 or probs.shape[1] != len(classes):
        raise ValueError(
            f"decode_predictions expects a batch of class probabilities (B, {len(classes)}), "
            f"got shape {probs.shape}; add a batch axis or pass the model's classes."
        )
    if not 1 <= top <= len(classes):
        raise ValueError(f"top must be in 1..{len(classes)}, got {top}.")
    order = np.argsort(-probs, axis=1, kind="stable")[:, :top]
    return [[(classes[i][0], classes[i][1], float(row[i])) for i in idx] for row, idx in zip(probs, order)]
