"""IoU and GIoU against a brute-force definition, numpy/jax parity, degenerate boxes."""
import cnnlab  # noqa: F401
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnlab import boxes as B


def _area(b):
    return max(b[2] - b[0], 0.0) * max(b[3] - b[1], 0.0)


def _ref_iou(a, b):
    iw = max(min(a[2], b[2]) - max(a[0], b[0]), 0.0)
    ih = max(min(a[3], b[3]) - max(a[1], b[1]), 0.0)
    inter = iw * ih
    union = _area(a) + _area(b) - inter
    return inter / union if union > 0 else 0.0


def _ref_giou(a, b):
    cw = max(a[2], b[2]) - min(a[0], b[0])
    ch = max(a[3], b[3]) - min(a[1], b[1])
    c = cw * ch
    iw = max(min(a[2], b[2]) - max(a[0], b[0]), 0.0)
    ih = max(min(a[3], b[3]) - max(a[1], b[1]), 0.0)
    union = _area(a) + _area(b) - iw * ih
    return _ref_iou(a, b) - ((c - union) / c if c > 0 else 0.0)


def _random_boxes(rng, n):
    xy = rng.uniform(0, 10, (n, 2))
    wh = rng.uniform(0, 6, (n, 2))
    wh[rng.random(n) < 0.15] = 0.0  # some degenerate boxes
    return np.concatenate([xy, xy + wh], axis=1)


@pytest.mark.parametrize("seed", range(4))
def test_pairwise_against_brute_force(seed):
    rng = np.random.default_rng(seed)
    a, b = _random_boxes(rng, 9), _random_boxes(rng, 6)
    b[0] = a[0]  # an identical pair
    ref_iou = np.array([[_ref_iou(x, y) for y in b] for x in a])
    ref_giou = np.array([[_ref_giou(x, y) for y in b] for x in a])
    np.testing.assert_allclose(B.pairwise_iou(a, b), ref_iou, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(B.pairwise_giou(a, b), ref_giou, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.asarray(B.pairwise_iou(jnp.asarray(a, jnp.float32), b)),
                               ref_iou, atol=2e-6)
    np.testing.assert_allclose(np.asarray(jax.jit(B.pairwise_giou)(a.astype(np.float32), jnp.asarray(b, jnp.float32))),
                               ref_giou, atol=2e-6)
    n = min(len(a), len(b))
    np.testing.assert_allclose(B.elementwise_iou(a[:n], b[:n]), np.diag(ref_iou), atol=1e-12)
    np.testing.assert_allclose(B.elementwise_giou(a[:n], b[:n]), np.diag(ref_giou), atol=1e-12)
    assert ref_iou[0, 0] == 1.0 or _area(a[0]) == 0.0


def test_hand_values_and_area():
    a = np.array([[0.0, 0.0, 2.0, 2.0]])
    b = np.array([[1.0, 1.0, 3.0, 3.0], [4.0, 0.0, 6.0, 2.0]])
    np.testing.assert_allclose(B.pairwise_iou(a, b), [[1 / 7, 0.0]])
    # enclosing boxes 3x3 = 9 and 6x2 = 12; unions 7 and 8.
    np.testing.assert_allclose(B.pairwise_giou(a, b), [[1 / 7 - 2 / 9, 0.0 - 4 / 12]])
    np.testing.assert_array_equal(B.box_area(np.array([[0, 0, 2, 3], [2, 2, 1, 5]])), [6, 0])


def test_batched_leading_axes():
    rng = np.random.default_rng(5)
    a, b = _random_boxes(rng, 8).reshape(2, 4, 4), _random_boxes(rng, 6).reshape(2, 3, 4)
    out = B.pairwise_iou(a, b)
    assert out.shape == (2, 4, 3)
    np.testing.assert_allclose(out[1], B.pairwise_iou(a[1], b[1]))


def test_degenerate_boxes_give_zero_and_finite_gradients():
    zero = jnp.zeros((3, 4))
    assert np.all(np.asarray(B.pairwise_iou(zero, zero)) == 0)
    assert np.all(np.asarray(B.pairwise_giou(zero, zero)) == 0)
    grad = jax.grad(lambda x: jnp.sum(B.elementwise_giou(x, zero)))(zero)
    assert np.all(np.isfinite(np.asarray(grad)))


def test_shape_errors():
    with pytest.raises(ValueError, match="shape"):
        B.pairwise_iou(np.zeros(4), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="4 coordinates"):
        B.pairwise_iou(np.zeros((2, 3)), np.zeros((2, 4)))
