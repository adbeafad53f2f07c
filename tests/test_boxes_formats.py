"""Box format conversions: hand values, round trips, numpy/jax parity, errors."""
import itertools

import cnnlab  # noqa: F401  (sets XLA flags before jax starts)
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnlab import boxes as B


def _random_xyxy(rng, n=7):
    xy = rng.uniform(0, 0.6, (n, 2))
    return np.concatenate([xy, xy + rng.uniform(0.01, 0.4, (n, 2))], axis=1)


def test_hand_values():
    box = np.array([[10.0, 20.0, 50.0, 80.0]])
    np.testing.assert_array_equal(B.xyxy_to_cxcywh(box), [[30.0, 50.0, 40.0, 60.0]])
    np.testing.assert_array_equal(B.xyxy_to_yxyx(box), [[20.0, 10.0, 80.0, 50.0]])
    np.testing.assert_array_equal(B.xyxy_to_xywh(box), [[10.0, 20.0, 40.0, 60.0]])
    np.testing.assert_array_equal(B.cxcywh_to_xyxy([[30.0, 50.0, 40.0, 60.0]]), box)
    np.testing.assert_array_equal(B.xywh_to_xyxy([[10.0, 20.0, 40.0, 60.0]]), box)
    np.testing.assert_array_equal(B.yxyx_to_xyxy([[20.0, 10.0, 80.0, 50.0]]), box)


@pytest.mark.parametrize("src,dst", list(itertools.permutations(B.FORMATS, 2)))
def test_convert_round_trips(src, dst):
    rng = np.random.default_rng(0)
    boxes = B.convert(_random_xyxy(rng), "xyxy", src)
    back = B.convert(B.convert(boxes, src, dst), dst, src)
    np.testing.assert_allclose(back, boxes, rtol=0, atol=1e-12)


def test_convert_matches_direct_functions():
    boxes = _random_xyxy(np.random.default_rng(1))
    np.testing.assert_array_equal(B.convert(boxes, "xyxy", "cxcywh"), B.xyxy_to_cxcywh(boxes))
    np.testing.assert_array_equal(B.convert(boxes, "xyxy", "yxyx"), B.xyxy_to_yxyx(boxes))
    np.testing.assert_allclose(B.convert(B.xyxy_to_yxyx(boxes), "yxyx", "cxcywh"), B.xyxy_to_cxcywh(boxes))


def test_jax_and_numpy_agree_and_types_follow_input():
    boxes = _random_xyxy(np.random.default_rng(2)).astype(np.float32)
    for fn in (B.xyxy_to_cxcywh, B.cxcywh_to_xyxy, B.xyxy_to_yxyx, B.xyxy_to_xywh, B.xywh_to_xyxy):
        out_np = fn(boxes)
        out_jx = fn(jnp.asarray(boxes))
        assert isinstance(out_np, np.ndarray) and isinstance(out_jx, jax.Array)
        np.testing.assert_allclose(np.asarray(out_jx), out_np, rtol=1e-6, atol=1e-7)
    jitted = jax.jit(lambda b: B.convert(b, "yxyx", "cxcywh"))(jnp.asarray(boxes))
    np.testing.assert_allclose(np.asarray(jitted), B.convert(boxes, "yxyx", "cxcywh"), atol=1e-6)


def test_pixels_and_normalised():
    boxes = np.array([[0.1, 0.2, 0.5, 1.0]], dtype=np.float32)
    px = B.to_pixels(boxes, height=200, width=100)
    np.testing.assert_allclose(px, [[10.0, 40.0, 50.0, 200.0]], rtol=1e-6)
    assert px.dtype == np.float32
    np.testing.assert_allclose(B.to_pixels(B.xyxy_to_yxyx(boxes), 200, 100, fmt="yxyx"),
                               [[40.0, 10.0, 200.0, 50.0]], rtol=1e-6)
    np.testing.assert_allclose(B.to_normalized(px, 200, 100), boxes, rtol=1e-6)
    # per-image sizes broadcast against (B, N).
    batch = np.stack([boxes, boxes])  # (2, 1, 4)
    sizes_h = np.array([[100.0], [200.0]])
    out = B.to_pixels(jnp.asarray(batch), sizes_h, np.array([[10.0], [20.0]]))
    np.testing.assert_allclose(np.asarray(out), [[[1, 20, 5, 100]], [[2, 40, 10, 200]]], rtol=1e-6)


def test_clip():
    boxes = np.array([[-0.2, 0.1, 0.5, 1.3], [0.2, -1.0, 2.0, 0.5]])
    np.testing.assert_array_equal(B.clip_boxes(boxes), [[0.0, 0.1, 0.5, 1.0], [0.2, 0.0, 1.0, 0.5]])
    np.testing.assert_array_equal(B.clip_boxes(boxes * 100, height=50, width=80),
                                  [[0.0, 10.0, 50.0, 50.0], [20.0, 0.0, 80.0, 50.0]])


def test_errors_name_the_cause():
    with pytest.raises(ValueError, match=r"\(\.\.\., 4\)"):
        B.xyxy_to_cxcywh(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="box format"):
        B.convert(np.zeros((1, 4)), "xyxy", "ltrb")
