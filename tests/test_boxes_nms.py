"""NMS (numpy, per-class, jittable padded) against a brute-force definition."""
import cnnlab  # noqa: F401
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnlab import boxes as B


def _iou(a, b):
    iw = max(min(a[2], b[2]) - max(a[0], b[0]), 0.0)
    ih = max(min(a[3], b[3]) - max(a[1], b[1]), 0.0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - iw * ih
    return iw * ih / union if union > 0 else 0.0


def _reference(boxes, scores, iou_thr, score_thr, max_output, classes=None):
    """The definition: visit by (score desc, index asc); keep unless a kept same-class box overlaps > thr."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    kept = []
    for i in order:
        if len(kept) == max_output:
            break
        if not scores[i] > score_thr:
            continue
        if any(_iou(boxes[i], boxes[j]) > iou_thr and (classes is None or classes[i] == classes[j])
               for j in kept):
            continue
        kept.append(i)
    return kept


def _random_case(rng, n=40):
    centres = rng.uniform(0, 1, (5, 2))[rng.integers(0, 5, n)] + rng.normal(0, 0.05, (n, 2))
    wh = rng.uniform(0.1, 0.3, (n, 2))
    boxes = np.concatenate([centres - wh / 2, centres + wh / 2], axis=1).astype(np.float32)
    scores = np.round(rng.random(n), 1).astype(np.float32)  # many ties
    classes = rng.integers(0, 3, n)
    return boxes, scores, classes


def _padded(kept, size):
    out = np.full(size, -1)
    out[:min(len(kept), size)] = kept[:size]
    return out


@pytest.mark.parametrize("seed", range(5))
def test_random_against_brute_force(seed):
    rng = np.random.default_rng(seed)
    boxes, scores, classes = _random_case(rng)
    for iou_thr, score_thr, max_out in [(0.5, -np.inf, 100), (0.3, 0.25, 7), (0.7, 0.5, 3)]:
        ref = _reference(boxes, scores, iou_thr, score_thr, max_out)
        np.testing.assert_array_equal(B.nms(boxes, scores, iou_thr, score_thr, max_out), ref)
        idx, count = B.nms_padded(jnp.asarray(boxes), jnp.asarray(scores), iou_thr, score_thr, max_out)
        assert int(count) == len(ref)
        np.testing.assert_array_equal(np.asarray(idx), _padded(ref, max_out))
        ref_cls = _reference(boxes, scores, iou_thr, score_thr, max_out, classes)
        np.testing.assert_array_equal(B.nms(boxes, scores, iou_thr, score_thr, max_out, classes=classes), ref_cls)
        np.testing.assert_array_equal(B.batched_nms(boxes, scores, classes, iou_thr, score_thr, max_out), ref_cls)
        idx, count = B.nms_padded(boxes, scores, iou_thr, score_thr, max_out, classes=classes)
        assert int(count) == len(ref_cls)
        np.testing.assert_array_equal(np.asarray(idx), _padded(ref_cls, max_out))


def test_ties_keep_the_lower_index():
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], np.float32)
    scores = np.array([0.9, 0.9, 0.9, 0.9], np.float32)
    np.testing.assert_array_equal(B.nms(boxes, scores, 0.5), [0, 3])
    idx, count = B.nms_padded(boxes, scores, 0.5, max_output=4)
    np.testing.assert_array_equal(np.asarray(idx), [0, 3, -1, -1])
    assert int(count) == 2
    # IoU exactly at the threshold is not suppressed (strictly greater suppresses).
    half = np.array([[0, 0, 2, 1], [1, 0, 3, 1]], np.float32)  # IoU = 1/3
    np.testing.assert_array_equal(B.nms(half, np.array([1.0, 0.5]), 1 / 3), [0, 1])
    np.testing.assert_array_equal(B.nms(half, np.array([1.0, 0.5]), 0.3), [0])


def test_empty_and_all_below_threshold():
    assert B.nms(np.zeros((0, 4)), np.zeros((0,))).shape == (0,)
    assert B.batched_nms(np.zeros((0, 4)), np.zeros((0,)), np.zeros((0,), int)).shape == (0,)
    idx, count = B.nms_padded(jnp.zeros((0, 4)), jnp.zeros((0,)), 0.5, max_output=3)
    np.testing.assert_array_equal(np.asarray(idx), [-1, -1, -1])
    assert int(count) == 0
    boxes, scores, _ = _random_case(np.random.default_rng(9), 10)
    assert B.nms(boxes, scores, 0.5, score_threshold=1.0).shape == (0,)
    idx, count = B.nms_padded(boxes, scores, 0.5, 1.0, max_output=5)
    assert int(count) == 0 and np.all(np.asarray(idx) == -1)


def test_jit_with_traced_thresholds_and_vmap():
    rng = np.random.default_rng(11)
    cases = [_random_case(rng, 30) for _ in range(4)]
    boxes = np.stack([c[0] for c in cases])
    scores = np.stack([c[1] for c in cases])
    fn = jax.jit(jax.vmap(lambda b, s, t: B.nms_padded(b, s, t, 0.2, max_output=6), in_axes=(0, 0, None)))
    idx, count = fn(boxes, scores, 0.45)
    for i in range(4):
        ref = _reference(boxes[i], scores[i], 0.45, 0.2, 6)
        np.testing.assert_array_equal(np.asarray(idx[i]), _padded(ref, 6))
        assert int(count[i]) == len(ref)


def test_input_errors():
    with pytest.raises(ValueError, match="scores must have shape"):
        B.nms(np.zeros((3, 4)), np.zeros(2))
    with pytest.raises(ValueError, match="nan"):
        B.nms(np.zeros((2, 4)), np.array([0.1, np.nan]))
    with pytest.raises(ValueError, match="vmap"):
        B.nms_padded(jnp.zeros((2, 3, 4)), jnp.zeros((2, 3)))
