"""ImageNet labels: the shipped Keras index, Caffe's synset_words order, decode_predictions."""
import os

import numpy as np
import pytest

from cnnlab.pretrained import imagenet

SHARED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "data", "imagenet")


def test_shipped_index_is_the_keras_list():
    classes = imagenet.imagenet_classes()
    assert len(classes) == 1000
    assert classes[0] == ("n01440764", "tench")
    assert classes[281] == ("n02123045", "tabby")
    assert classes[999] == ("n15075141", "toilet_tissue")
    assert len({wnid for wnid, _ in classes}) == 1000


@pytest.mark.skipif(not os.path.isdir(SHARED), reason="../shared/data/imagenet is not present")
def test_synset_words_order_agrees_with_keras_order():
    caffe = imagenet.read_synset_words(os.path.join(SHARED, "synset_words.txt"))
    assert len(caffe) == 1000
    perm = imagenet.synset_permutation([wnid for wnid, _ in caffe])
    np.testing.assert_array_equal(perm, np.arange(1000))  # both lists are in wnid order
    for (wnid, name), (cwnid, words) in zip(imagenet.imagenet_classes(), caffe):
        assert wnid == cwnid
        assert name.replace("_", " ").lower() in [w.strip().lower() for w in words.split(",")]
    with open(os.path.join(SHARED, "imagenet_class_index.json"), encoding="utf-8") as f:
        assert f.read() == open(imagenet.CLASS_INDEX_FILE, encoding="utf-8").read()


def test_permutation_reorders_probabilities(tmp_path):
    classes = imagenet.imagenet_classes()
    shuffled = np.random.default_rng(0).permutation(1000)
    path = tmp_path / "synset_words.txt"
    path.write_text("".join(f"{classes[i][0]} {classes[i][1]}\n" for i in shuffled))
    wnids = [w for w, _ in imagenet.read_synset_words(str(path))]
    probs_in_file_order = np.zeros((1, 1000))
    probs_in_file_order[0, 7] = 1.0  # class at file position 7
    keras_order = probs_in_file_order[:, imagenet.synset_permutation(wnids)]
    assert keras_order[0, shuffled[7]] == 1.0
    with pytest.raises(ValueError, match="not the 1000 ImageNet-1k synsets"):
        imagenet.synset_permutation(wnids[:-1])
    (tmp_path / "bad.txt").write_text("tench fish\n")
    with pytest.raises(ValueError, match="bad.txt:1"):
        imagenet.read_synset_words(str(tmp_path / "bad.txt"))


def test_decode_predictions_like_keras():
    probs = np.full((2, 1000), 1e-4)
    probs[0, [281, 285, 7]] = [0.6, 0.3, 0.05]
    probs[1, 999] = 0.9
    decoded = imagenet.decode_predictions(probs, top=3)
    assert [d[:2] for d in decoded[0]] == [("n02123045", "tabby"), ("n02124075", "Egyptian_cat"), ("n01514668", "cock")]
    assert decoded[0][0][2] == pytest.approx(0.6)
    assert decoded[1][0] == ("n15075141", "toilet_tissue", pytest.approx(0.9))
    assert all(isinstance(p, float) for _, _, p in decoded[1])
    with pytest.raises(ValueError, match=r"\(B, 1000\)"):
        imagenet.decode_predictions(probs[0])
    with pytest.raises(ValueError, match="top must be in 1..1000"):
        imagenet.decode_predictions(probs, top=0)
