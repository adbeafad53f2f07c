"""Detection task: target assignment, focal loss, decoding, NMS at inference, mAP hook, training."""
import dataclasses

import cnnlab  # noqa: F401  (XLA flags before jax)
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from cnnlab import models, tasks
from cnnlab.boxes import SSD_VARIANCES, decode_boxes, encode_boxes, multilevel_anchors
from cnnlab.data import shapes
from cnnlab.metrics.detection import coco_evaluate, voc_evaluate
from cnnlab.tasks.detection import (Detection, predict, predictions_fn, sigmoid_focal_loss, smooth_l1,
                                    to_evaluation_lists)


def _iou_np(a, b):
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _assign_reference(anchors, boxes, labels, pos, neg):
    """Loop version of the matching rule: thresholds, then each gt claims its best anchor."""
    real = [j for j in range(len(boxes)) if labels[j] >= 0]
    out = np.full(len(anchors), -1)
    if not real:
        return out
    iou = np.array([[_iou_np(a, boxes[j]) if j in real else -1.0 for j in range(len(boxes))]
                    for a in anchors])
    for i in range(len(anchors)):
        j = int(np.argmax(iou[i]))
        out[i] = j if iou[i, j] >= pos else (-1 if iou[i, j] < neg else -2)
    for j in real:
        i = int(np.argmax(iou[:, j]))
        if iou[i, j] > 0:
            out[i] = j
    return out


def test_target_assignment_matches_loop_reference():
    rng = np.random.default_rng(0)
    anchors = multilevel_anchors([(4, 4), (2, 2)], [(0.2, 0.3), (0.5,)], (0.5, 1.0, 2.0))
    centres = rng.uniform(0.2, 0.8, (2, 5, 2))
    sizes = rng.uniform(0.1, 0.45, (2, 5, 2))
    boxes = np.concatenate([centres - sizes / 2, centres + sizes / 2], -1).astype(np.float32)
    labels = np.array([[0, 2, 1, -1, -1], [1, -1, -1, -1, -1]], np.int32)
    boxes[labels < 0] = -1.0
    task = tasks.create("detection", num_classes=3, positive_iou=0.5, negative_iou=0.4)
    matched, onehot, target_boxes = task.assign(jnp.asarray(anchors), jnp.asarray(boxes),
                                                jnp.asarray(labels))
    for b in range(2):
        want = _assign_reference(anchors, boxes[b], labels[b], 0.5, 0.4)
        np.testing.assert_array_equal(np.asarray(matched[b]), want)
        pos = want >= 0
        assert pos.sum() >= (labels[b] >= 0).sum()  # every object got an anchor
        np.testing.assert_array_equal(np.asarray(onehot[b]).argmax(-1)[pos], labels[b][want[pos]])
        assert np.asarray(onehot[b])[~pos].sum() == 0
        np.testing.assert_allclose(np.asarray(target_boxes[b])[pos], boxes[b][want[pos]])


def test_focal_and_smooth_l1_match_formulas():
    logits = np.array([[-2.0, 0.5, 3.0]], np.float32)
    targets = np.array([[0.0, 1.0, 0.0]], np.float32)
    p = 1 / (1 + np.exp(-logits))
    p_t = np.where(targets == 1, p, 1 - p)
    a_t = np.where(targets == 1, 0.25, 0.75)
    want = -a_t * (1 - p_t) ** 2 * np.log(p_t)
    np.testing.assert_allclose(np.asarray(sigmoid_focal_loss(logits, targets)), want, rtol=1e-5)
    x = np.array([-1.0, -0.05, 0.0, 0.08, 2.0], np.float32)
    beta = 0.1
    want = np.where(np.abs(x) < beta, 0.5 * x ** 2 / beta, np.abs(x) - beta / 2)
    np.testing.assert_allclose(np.asarray(smooth_l1(jnp.asarray(x), beta)), want, rtol=1e-6)


def test_decoding_inverts_encoding():
    anchors = multilevel_anchors([(3, 3)], [(0.25, 0.4)], (0.5, 1.0, 2.0))  # (54, 4)
    rng = np.random.default_rng(1)
    c = rng.uniform(0.1, 0.9, (len(anchors), 2))
    s = rng.uniform(0.05, 0.6, (len(anchors), 2))
    boxes = np.concatenate([c - s / 2, c + s / 2], -1).astype(np.float32)
    deltas = encode_boxes(jnp.asarray(boxes), jnp.asarray(anchors), SSD_VARIANCES)
    np.testing.assert_allclose(np.asarray(decode_boxes(deltas, jnp.asarray(anchors))), boxes, atol=1e-5)


def test_detect_decodes_scores_and_suppresses_duplicates():
    anchors = multilevel_anchors([(4, 4)], [(0.3,)], (1.0,))  # (16, 4)
    truth = np.array([[0.1, 0.1, 0.4, 0.45], [0.55, 0.5, 0.9, 0.95]], np.float32)
    logits = np.full((1, 16, 2), -8.0, np.float32)
    deltas = np.zeros((1, 16, 4), np.float32)
    # Anchors 0, 1 and 4 all predict box 0 (class 1); anchor 15 predicts box 1 (class 0).
    for a, score in ((0, 3.0), (1, 2.0), (4, 1.0)):
        logits[0, a, 1] = score
        deltas[0, a] = np.asarray(encode_boxes(truth[0], anchors[a]))
    logits[0, 15, 0] = 2.5
    deltas[0, 15] = np.asarray(encode_boxes(truth[1], anchors[15]))
    outputs = {"class_logits": jnp.asarray(logits), "box_deltas": jnp.asarray(deltas),
               "anchors": jnp.asarray(anchors)}
    task = tasks.create("detection", num_classes=2, score_threshold=0.1, max_detections=5)
    det = jax.jit(task.detect)(outputs)
    labels = np.asarray(det["labels"][0])
    assert labels.tolist() == [1, 0, -1, -1, -1]  # the duplicates of box 0 are gone
    np.testing.assert_allclose(np.asarray(det["boxes"][0, :2]), truth, atol=1e-5)
    np.testing.assert_allclose(np.asarray(det["scores"][0, :2]), 1 / (1 + np.exp(-np.array([3.0, 2.5]))),
                               rtol=1e-5)
    # The host metrics of perfect detections are perfect; a shifted box drops COCO AP, not VOC mAP.
    batch = {"image": np.zeros((1, 40, 40, 3), np.float32), "boxes": truth[None],
             "box_labels": np.array([[1, 0]], np.int32), "valid": np.array([True])}
    host = task.host_evaluate([(jax.device_get(det), batch)])
    assert set(host) == {"map50", "ap", "ap50", "ap75", "ar100", "num_images"}  # one snake-case style
    assert host["map50"] == pytest.approx(1.0) and host["ap"] == pytest.approx(1.0)
    shifted = jax.device_get(det)
    shifted["boxes"] = shifted["boxes"].copy()
    shifted["boxes"][0, 0] += 0.03
    host = task.host_evaluate([(shifted, batch)])
    assert host["map50"] == pytest.approx(1.0) and host["ap"] < 0.9


def test_difficult_objects_are_ignored_by_voc_map():
    task = tasks.create("detection", num_classes=1)
    batch = {"image": np.zeros((1, 50, 50, 3), np.float32),
             "boxes": np.array([[[0.1, 0.1, 0.3, 0.3], [0.6, 0.6, 0.9, 0.9]]], np.float32),
             "box_labels": np.array([[0, 0]], np.int32), "valid": np.array([True])}
    det = {"boxes": np.array([[[0.1, 0.1, 0.3, 0.3]]], np.float32),
           "scores": np.array([[0.9]], np.float32), "labels": np.array([[0]], np.int32)}
    assert task.host_evaluate([(det, batch)])["map50"] == pytest.approx(0.5)
    batch["box_difficult"] = np.array([[False, True]])
    assert task.host_evaluate([(det, batch)])["map50"] == pytest.approx(1.0)


def _detection_batch(rng, n=5, size=(40, 60), max_boxes=4):
    """A host batch with padded boxes (-1 rows), one invalid (padding) image and difficult flags."""
    labels = np.full((n, max_boxes), -1, np.int32)
    boxes = np.full((n, max_boxes, 4), -1.0, np.float32)
    for i in range(n):
        g = int(rng.integers(0, max_boxes + 1))
        xy = rng.uniform(0, 0.6, (g, 2))
        boxes[i, :g] = np.concatenate([xy, xy + rng.uniform(0.1, 0.4, (g, 2))], 1)
        labels[i, :g] = rng.integers(0, 3, g)
    det_labels = np.where(rng.random((n, 6)) < 0.6, rng.integers(0, 3, (n, 6)), -1).astype(np.int32)
    xy = rng.uniform(0, 0.6, (n, 6, 2))
    detections = {"boxes": np.concatenate([xy, xy + 0.2], -1).astype(np.float32),
                  "scores": rng.random((n, 6)).astype(np.float32), "labels": det_labels}
    batch = {"image": rng.random((n,) + size + (3,)).astype(np.float32), "boxes": boxes, "box_labels": labels,
             "box_difficult": rng.random((n, max_boxes)) < 0.3, "valid": np.arange(n) < n - 1}
    return detections, batch


def test_drawing_lives_in_viz_not_in_the_task():
    from cnnlab.tasks import detection as task_module
    from cnnlab.viz import detection as viz_detection

    assert not hasattr(task_module, "draw_predictions") and callable(viz_detection.draw_predictions)


def test_evaluation_lists_hold_fresh_pixel_arrays_of_valid_images_only():
    rng = np.random.default_rng(3)
    detections, batch = _detection_batch(rng)
    predictions, truths = to_evaluation_lists([(detections, batch)])
    assert len(predictions) == len(truths) == 4  # the padding image is left out
    scale = np.array([60, 40, 60, 40])  # x by the width, y by the height
    for i, (p, t) in enumerate(zip(predictions, truths)):
        assert set(p) == {"boxes", "labels", "scores"} and set(t) == {"boxes", "labels", "difficult"}
        found, real = detections["labels"][i] >= 0, batch["box_labels"][i] >= 0
        np.testing.assert_allclose(p["boxes"], detections["boxes"][i][found] * scale, rtol=1e-6)
        np.testing.assert_array_equal(p["labels"], detections["labels"][i][found])
        np.testing.assert_array_equal(p["scores"], detections["scores"][i][found])
        np.testing.assert_allclose(t["boxes"], batch["boxes"][i][real] * scale, rtol=1e-6)
        np.testing.assert_array_equal(t["labels"], batch["box_labels"][i][real])
        np.testing.assert_array_equal(t["difficult"], batch["box_difficult"][i][real])
        for array in list(p.values()) + list(t.values()):  # copies: dropping the batch frees it
            assert array.base is None
            for source in list(batch.values()) + list(detections.values()):
                assert not np.shares_memory(array, source)
    # host_update keeps exactly these lists, and host_finalize scores them with VOC and COCO.
    task = tasks.create("detection", num_classes=3)
    acc = task.host_update(task.host_init(), detections, batch)
    assert len(acc[0]) == 4 and all(set(p) == {"boxes", "labels", "scores"} for p in acc[0])
    host = task.host_finalize(acc)
    voc = voc_evaluate(predictions, truths, 3, iou_threshold=0.5)
    coco = coco_evaluate(predictions, truths, 3)
    assert host == {"map50": voc["map"], "ap": coco["ap"], "ap50": coco["ap50"], "ap75": coco["ap75"],
                    "ar100": coco["ar100"], "num_images": 4.0}


@dataclasses.dataclass(frozen=True)
class _CountingDetection(Detection):
    """Counts how often ``predictions`` is traced (Python runs only while jax traces)."""

    def predictions(self, outputs):
        TRACES.append(1)
        return super().predictions(outputs)


TRACES = []


@pytest.mark.parametrize("backbone_kwargs", [None, {"widths": (8, 8, 16, 16)}], ids=["hashable", "dict_field"])
def test_predict_compiles_once_per_model_and_task(backbone_kwargs):
    def make_model():
        return models.create("ssd", num_classes=3, backbone_kwargs=backbone_kwargs, feature_layers=("stage2_out",),
                             extra_levels=0, anchor_scales=((0.15, 0.25), (0.35, 0.5)), head_width=8)

    model, task = make_model(), _CountingDetection(num_classes=3, max_detections=5)
    images = np.random.default_rng(0).random((4, 32, 32, 3)).astype(np.float32)
    variables = jax.jit(model.init)(jax.random.key(0), images[:1])
    TRACES.clear()
    first = predict(model, variables, images, task, batch_size=2)  # two batches of one shape
    assert len(TRACES) == 1
    again = predict(model, variables, images, task, batch_size=2)
    assert len(TRACES) == 1  # no new compile
    for key in ("boxes", "scores", "labels"):
        np.testing.assert_array_equal(first[key], again[key])
    assert predictions_fn(model, task) is predictions_fn(model, task)
    if backbone_kwargs is None:  # equal models and tasks share one compiled function ...
        predict(make_model(), variables, images, _CountingDetection(num_classes=3, max_detections=5),
                batch_size=2)
        assert len(TRACES) == 1
        # ... which computes task.detect of the model's outputs
        direct = jax.device_get(jax.jit(lambda v, x: task.detect(model.apply(v, x, train=False)))(
            variables, images))
        np.testing.assert_array_equal(first["labels"], direct["labels"])
        np.testing.assert_allclose(first["scores"], direct["scores"], rtol=1e-5, atol=1e-6)


def test_ssd_outputs_line_up_with_anchors_and_reject_unknown_layers():
    model = models.create("ssd", num_classes=3, backbone_kwargs={"widths": (8, 8, 16, 16)},
                          feature_layers=("stage2_out", "stage3_out"), extra_levels=1,
                          anchor_scales=(0.1, 0.2, 0.4, 0.7), aspect_ratios=(1.0, 2.0), head_width=16,
                          top_down=True)
    x = jnp.zeros((2, 32, 32, 3))
    variables = jax.eval_shape(model.init, jax.random.key(0), x)
    out = jax.eval_shape(model.apply, variables, x)
    total = (8 * 8 + 4 * 4 + 2 * 2 + 1) * 2
    assert out["class_logits"].shape == (2, total, 3)
    assert out["box_deltas"].shape == (2, total, 4)
    assert out["anchors"].shape == (total, 4)
    params = variables["params"]
    assert {"lateral1", "smooth4", "extra1_conv", "head4_cls"} <= set(params)
    assert params["lateral1"]["kernel"].shape == (1, 1, 8, 16)  # stage2_out has 8 channels
    assert params["head1_cls"]["kernel"].shape == (3, 3, 16, 2 * 3)
    bad = models.create("ssd", num_classes=3, feature_layers=("nope",), extra_levels=0,
                        anchor_scales=(0.1, 0.3))
    with pytest.raises(ValueError, match="no layer"):
        jax.eval_shape(bad.init, jax.random.key(0), x)
    with pytest.raises(ValueError, match="one entry per feature level"):
        models.create("ssd", num_classes=3, anchor_scales=(0.1,))


def test_loss_falls_on_a_tiny_batch():
    data = shapes.generate(4, split="train", image_size=(32, 32), min_objects=1, max_objects=3)
    batch = {"image": jnp.asarray(data["image"], jnp.float32) / 255.0,
             "boxes": jnp.asarray(data["boxes"]), "box_labels": jnp.asarray(data["box_labels"])}
    model = models.create("ssd", num_classes=3, backbone_kwargs={"widths": (8, 16, 16, 16)},
                          feature_layers=("stage2_out",), extra_levels=0,
                          anchor_scales=((0.15, 0.25), (0.35, 0.5)), head_width=16)
    task = tasks.create("detection", num_classes=3)
    variables = jax.jit(model.init)(jax.random.key(0), batch["image"])  # eager init: 10x slower
    params, stats = variables["params"], variables["batch_stats"]
    opt = optax.adam(3e-3)
    opt_state = opt.init(params)

    @jax.jit
    def step(params, stats, opt_state):
        def loss_fn(p):
            out, new = model.apply({"params": p, "batch_stats": stats}, batch["image"], train=True,
                                   mutable=["batch_stats"])
            return task.loss(out, batch)[0], new["batch_stats"]

        (loss, stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt_state = opt.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), stats, opt_state, loss

    losses = []
    for _ in range(40):
        params, stats, opt_state, loss = step(params, stats, opt_state)
        losses.append(float(loss))
    assert np.isfinite(losses).all()
    assert np.mean(losses[-5:]) < 0.35 * np.mean(losses[:3])
