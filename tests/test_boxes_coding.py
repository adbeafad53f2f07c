"""Anchor generation, delta coding and anchor matching."""
import math

import cnnlab  # noqa: F401
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnlab import boxes as B


def test_anchor_shapes_hand_values():
    shapes = B.anchor_shapes([0.2, 0.4], [0.5, 1.0, 2.0])
    r = math.sqrt(2.0)
    expected = [[0.2 / r, 0.2 * r], [0.2, 0.2], [0.2 * r, 0.2 / r],
                [0.4 / r, 0.4 * r], [0.4, 0.4], [0.4 * r, 0.4 / r]]
    np.testing.assert_allclose(shapes, expected, rtol=1e-6)
    np.testing.assert_allclose(shapes[:, 0] * shapes[:, 1], [0.04] * 3 + [0.16] * 3, rtol=1e-5)


def test_grid_anchors_order_and_centres():
    shapes = np.array([[0.5, 0.5], [0.2, 0.4]])
    anchors = B.grid_anchors((2, 3), shapes)  # (2 * 3 * 2, 4)
    assert anchors.shape == (12, 4) and anchors.dtype == np.float32
    grid = anchors.reshape(2, 3, 2, 4)  # (fh, fw, A, 4): a head's (B, fh, fw, A*4) layout
    centres = B.xyxy_to_cxcywh(grid)
    for y in range(2):
        for x in range(3):
            for a in range(2):
                np.testing.assert_allclose(centres[y, x, a], [(x + 0.5) / 3, (y + 0.5) / 2, *shapes[a]], atol=1e-6)


def test_multilevel_anchors_counts_and_levels():
    sizes = [(4, 4), (2, 2), (1, 1)]
    scales = B.linear_scales(3, 0.2, 0.9)
    np.testing.assert_allclose(scales, [0.2, 0.55, 0.9])
    anchors = B.multilevel_anchors(sizes, [scales[0], [scales[1], 0.7], scales[2]], [0.5, 1.0, 2.0])
    counts = [16 * 3, 4 * 6, 1 * 3]
    assert anchors.shape == (sum(counts), 4)
    assert B.anchors_per_location([0.55, 0.7], [0.5, 1.0, 2.0]) == 6
    last = anchors[-3:]  # the 1x1 map: three anchors centred in the image
    np.testing.assert_allclose(B.xyxy_to_cxcywh(last)[:, :2], 0.5, atol=1e-6)
    per_level = B.multilevel_anchors([(1, 1), (1, 1)], [0.2, 0.4], [[1.0], [1.0, 2.0]])
    assert per_level.shape == (3, 4)
    clipped = B.multilevel_anchors(sizes, scales, [1.0, 3.0], clip=True)
    assert clipped.min() >= 0 and clipped.max() <= 1
    with pytest.raises(ValueError, match="one entry per feature map"):
        B.multilevel_anchors(sizes, [0.2, 0.3])
    with pytest.raises(ValueError, match="positive"):
        B.anchor_shapes([0.2], [0.0])


def test_encode_hand_values_and_round_trip():
    anchors = np.array([[0.0, 0.0, 2.0, 4.0]])  # centre (1, 2), size (2, 4)
    boxes = np.array([[1.0, 1.0, 5.0, 5.0]])  # centre (3, 3), size (4, 4)
    deltas = B.encode_boxes(boxes, anchors, variances=(1.0, 1.0, 1.0, 1.0))
    np.testing.assert_allclose(deltas, [[1.0, 0.25, math.log(2.0), 0.0]], atol=1e-12)
    ssd = B.encode_boxes(boxes, anchors)
    np.testing.assert_allclose(ssd, [[10.0, 2.5, math.log(2.0) / 0.2, 0.0]], atol=1e-12)
    rng = np.random.default_rng(0)
    anchors = B.multilevel_anchors([(3, 3)], [0.3])
    xy = rng.uniform(0, 0.7, (len(anchors), 2))
    boxes = np.concatenate([xy, xy + rng.uniform(0.05, 0.3, xy.shape)], axis=1)
    for variances in [(0.1, 0.1, 0.2, 0.2), (1.0, 1.0, 1.0, 1.0), (0.1, 0.2, 0.3, 0.4)]:
        d = B.encode_boxes(boxes, anchors, variances)
        np.testing.assert_allclose(B.decode_boxes(d, anchors, variances), boxes, atol=1e-6)
        dj = B.encode_boxes(jnp.asarray(boxes, jnp.float32), anchors, variances)
        np.testing.assert_allclose(np.asarray(dj), d, rtol=1e-4, atol=1e-4)
        back = jax.jit(lambda x: B.decode_boxes(x, anchors, variances))(dj)
        np.testing.assert_allclose(np.asarray(back), boxes, atol=1e-5)


def test_decode_clamps_scale_and_encode_stays_finite():
    anchors = np.array([[0.0, 0.0, 1.0, 1.0]])
    huge = B.decode_boxes(np.array([[0.0, 0.0, 1e4, 1e4]]), anchors, (1, 1, 1, 1))
    np.testing.assert_allclose(huge, [[0.5 - 1000 / 32, 0.5 - 1000 / 32, 0.5 + 1000 / 32, 0.5 + 1000 / 32]])
    padding = B.encode_boxes(jnp.zeros((1, 4)), anchors)
    assert np.all(np.isfinite(np.asarray(padding)))


def _reference_match(anchors, gt, labels, pos, neg, force):
    iou = B.pairwise_iou(anchors.astype(np.float64), gt.astype(np.float64))
    out = []
    for a in range(len(anchors)):
        best, best_j = -1.0, -1
        for j in range(len(gt)):
            if labels[j] >= 0 and iou[a, j] > best:
                best, best_j = iou[a, j], j
        out.append(best_j if best >= pos else (-1 if best < neg else -2))
    if force:
        for j in range(len(gt)):
            if labels[j] < 0:
                continue
            a = int(np.argmax(iou[:, j]))
            if iou[a, j] > 0:
                out[a] = j
    return np.array(out)


@pytest.mark.parametrize("seed", range(3))
def test_match_anchors_against_loop(seed):
    rng = np.random.default_rng(seed)
    anchors = B.multilevel_anchors([(4, 4), (2, 2)], [0.25, 0.5], [0.5, 1.0, 2.0])
    xy = rng.uniform(0, 0.7, (6, 2))
    gt = np.concatenate([xy, xy + rng.uniform(0.03, 0.4, (6, 2))], axis=1).astype(np.float32)
    labels = np.array([3, 0, 1, -1, 2, -1])
    for pos, neg, force in [(0.5, None, True), (0.5, 0.4, True), (0.4, 0.3, False)]:
        got = B.match_anchors(anchors, gt, labels, pos, neg, force)
        ref = _reference_match(anchors, gt, labels, pos, pos if neg is None else neg, force)
        np.testing.assert_array_equal(np.asarray(got), ref)
    batched = jax.jit(jax.vmap(lambda g, l: B.match_anchors(anchors, g, l, 0.5, 0.4)))(
        np.stack([gt, gt[::-1]]), np.stack([labels, labels[::-1]]))
    np.testing.assert_array_equal(np.asarray(batched[0]), _reference_match(anchors, gt, labels, 0.5, 0.4, True))
    assert set(np.unique(np.asarray(batched[1]))) <= {-2, -1, 0, 1, 3, 4, 5}


def test_match_anchors_no_ground_truth():
    anchors = B.multilevel_anchors([(2, 2)], [0.5])
    out = B.match_anchors(anchors, np.zeros((3, 4)), np.full(3, -1))
    np.testing.assert_array_equal(np.asarray(out), -1)
