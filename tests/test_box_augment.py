"""Box-aware augmentation: boxes stay on the moved pixels; emptied boxes are dropped; jittable."""
import cnnlab  # noqa: F401  (XLA flags before jax)
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnlab.data import box_augment, shapes


def _mask_boxes(mask, num_rows):
    """Boxes (normalised, pixel-edge) of every class present in a shapes mask, by class value."""
    h, w = mask.shape
    out = {}
    for value in np.unique(mask):
        if value in (0, box_augment.MASK_IGNORE):
            continue
        rows = np.flatnonzero((mask == value).any(1))
        cols = np.flatnonzero((mask == value).any(0))
        out[int(value)] = np.array([cols[0] / w, rows[0] / h, (cols[-1] + 1) / w, (rows[-1] + 1) / h])
    return out


def _rectangles():
    """A 40x40 black image with two white rectangles; their boxes and a mask."""
    image = np.zeros((40, 40, 3), np.float32)
    mask = np.zeros((40, 40), np.int32)
    boxes = np.array([[4, 8, 16, 20], [24, 20, 36, 36], [-1, -1, -1, -1]], np.float32)  # pixels
    for k, (x1, y1, x2, y2) in enumerate(boxes[:2].astype(int)):
        image[y1:y2, x1:x2] = 1.0
        mask[y1:y2, x1:x2] = k + 1
    return image, mask, boxes / 40.0, np.array([0, 1, -1], np.int32)


@pytest.mark.parametrize("window,hflip,vflip", [
    ((0.0, 0.0, 1.0), True, False),
    ((0.0, 0.0, 1.0), False, True),
    ((0.1, 0.2, 0.5), False, False),  # zoom in 2x on the first rectangle
    ((-0.25, -0.25, 1.5), True, False),  # zoom out onto a border
])
def test_boxes_follow_the_pixels(window, hflip, vflip):
    image, mask, boxes, labels = _rectangles()
    out = jax.jit(box_augment.transform_example, static_argnames=("min_visible", "fill"))(
        jnp.asarray(image), jnp.asarray(boxes), jnp.asarray(labels), jnp.asarray(window, jnp.float32),
        hflip, vflip, mask=jnp.asarray(mask), min_visible=0.5, fill=0.0)
    new_image, new_boxes, new_labels, new_mask = (np.asarray(a) for a in out)
    assert new_image.shape == image.shape and new_boxes.shape == boxes.shape
    from_mask = _mask_boxes(new_mask, len(boxes))
    bright = new_image[..., 0] > 0.5
    for k, label in enumerate(new_labels):
        if label < 0:
            continue
        box = new_boxes[k]
        np.testing.assert_allclose(from_mask[label + 1], box, atol=1.6 / 40)
        x1, y1, x2, y2 = np.round(box * 40).astype(int)
        inner = bright[y1 + 1:y2 - 1, x1 + 1:x2 - 1]
        assert inner.size and inner.mean() > 0.95  # the moved box is covered by the moved rectangle
    assert sorted(from_mask) == sorted(int(v) + 1 for v in new_labels if v >= 0)
    assert (new_boxes[new_labels < 0] == -1).all()


def test_emptied_and_mostly_cut_boxes_are_dropped():
    image, mask, boxes, labels = _rectangles()
    # A window on the top-left quarter: rectangle 0 (x 4-16, y 8-20) is fully inside, rectangle 1 is out.
    out = box_augment.transform_example(jnp.asarray(image), jnp.asarray(boxes), jnp.asarray(labels),
                                        jnp.asarray([0.0, 0.0, 0.5]), False, False)
    assert np.asarray(out[2]).tolist() == [0, -1, -1]
    np.testing.assert_allclose(np.asarray(out[1])[0], np.array([4, 8, 16, 20]) / 20.0, atol=1e-6)
    # Cutting rectangle 0 in half keeps it at min_visible=0.5 and drops it at 0.6.
    window = jnp.asarray([10 / 40, 0.0, 0.5])
    kept = box_augment.transform_example(jnp.asarray(image), jnp.asarray(boxes), jnp.asarray(labels),
                                         window, False, False, min_visible=0.5)
    dropped = box_augment.transform_example(jnp.asarray(image), jnp.asarray(boxes), jnp.asarray(labels),
                                            window, False, False, min_visible=0.6)
    assert int(kept[2][0]) == 0 and int(dropped[2][0]) == -1
    np.testing.assert_allclose(np.asarray(kept[1])[0], [0.0, 0.4, 0.3, 1.0], atol=1e-6)


def test_random_batch_augmentation_on_shapes_keeps_boxes_on_their_objects():
    data = shapes.generate(6, split="train", image_size=(48, 48), min_objects=2, max_objects=4)
    batch = {"image": jnp.asarray(data["image"], jnp.float32) / 255.0, "boxes": jnp.asarray(data["boxes"]),
             "box_labels": jnp.asarray(data["box_labels"]), "mask": jnp.asarray(data["mask"], jnp.int32)}
    augment = jax.jit(box_augment.build({"horizontal_flip": True, "vertical_flip": True,
                                         "scale_range": (0.7, 1.3), "min_visible": 1.0}))
    out = jax.device_get(augment(batch, jax.random.key(3)))
    assert out["image"].shape == batch["image"].shape and out["boxes"].shape == batch["boxes"].shape
    changed = 0
    for i in range(6):
        for k in np.flatnonzero(out["box_labels"][i] >= 0):
            # Objects never overlap in shapes, so each kept object is the mask region with
            # its own class whose box matches; min_visible=1 keeps only whole objects.
            region = _object_regions(out["mask"][i], out["box_labels"][i][k] + 1)
            assert any(np.abs(r - out["boxes"][i][k]).max() <= 1.6 / 48 for r in region)
        changed += not np.allclose(out["boxes"][i], data["boxes"][i])
    assert changed >= 3
    again = jax.device_get(augment(batch, jax.random.key(3)))
    np.testing.assert_array_equal(again["boxes"], out["boxes"])


def _object_regions(mask, value):
    """Bounding boxes of the 4-connected regions of ``mask == value`` (normalised)."""
    from scipy import ndimage

    h, w = mask.shape
    regions, _ = ndimage.label(mask == value)
    out = []
    for sl in ndimage.find_objects(regions):
        out.append(np.array([sl[1].start / w, sl[0].start / h, sl[1].stop / w, sl[0].stop / h]))
    return out


def test_identity_and_bad_settings():
    batch = {"image": jnp.zeros((1, 8, 8, 3))}
    assert box_augment.build(None)(batch, jax.random.key(0)) is batch
    with pytest.raises(ValueError, match="unknown box augmentation"):
        box_augment.build({"rotate": 10})
    with pytest.raises(ValueError, match="scale_range"):
        box_augment.build({"scale_range": (1.2, 0.8)})
    with pytest.raises(ValueError, match="needs 'boxes'"):
        box_augment.build({})(batch, jax.random.key(0))
