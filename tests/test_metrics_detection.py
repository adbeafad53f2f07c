"""Detection mAP: COCO-style against pycocotools' COCOeval, VOC against a devkit-style reference."""
import contextlib
import io

import cnnlab  # noqa: F401
import numpy as np
import pytest

from cnnlab.metrics import detection as D

pycocotools = pytest.importorskip("pycocotools", reason="pycocotools (a dev dependency) is not installed")
from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval  # noqa: E402

STAT_KEYS = ["ap", "ap50", "ap75", "ap_small", "ap_medium", "ap_large",
             "ar1", "ar10", "ar100", "ar_small", "ar_medium", "ar_large"]  # COCOeval.stats, in order


def _random_case(rng, num_images=6, num_classes=3, max_gt=6, max_det=12, scale=300.0, min_det=0):
    """Detections near ground truths (some mislabelled) plus clutter; coarse scores so ties occur."""
    preds, gts = [], []
    for _ in range(num_images):
        g = int(rng.integers(0, max_gt))
        xy = rng.uniform(0, scale, (g, 2))
        gt_boxes = np.concatenate([xy, xy + rng.uniform(4, scale / 2, (g, 2))], axis=1)
        gt_labels = rng.integers(0, num_classes, g)
        d = int(rng.integers(min_det, max_det))
        xy = rng.uniform(0, scale, (d, 2))
        boxes = np.concatenate([xy, xy + rng.uniform(4, scale / 2, (d, 2))], axis=1)
        labels = rng.integers(0, num_classes, d)
        if g:
            near = rng.random(d) < 0.7
            src = rng.integers(0, g, d)
            boxes[near] = gt_boxes[src[near]] + rng.normal(0, 6, (int(near.sum()), 4))
            boxes[near, 2:] = np.maximum(boxes[near, 2:], boxes[near, :2] + 1)
            keep_label = near & (rng.random(d) < 0.85)
            labels[keep_label] = gt_labels[src[keep_label]]
        preds.append({"boxes": boxes, "labels": labels, "scores": np.round(rng.random(d), 2)})
        gts.append({"boxes": gt_boxes, "labels": gt_labels, "difficult": rng.random(g) < 0.2})
    return preds, gts


def _cocoeval(preds, gts, num_classes):
    """pycocotools on the same data: xywh boxes, explicit area = w * h, 1-based ids."""
    images = [{"id": i + 1, "width": 1000, "height": 1000} for i in range(len(gts))]
    annotations = []
    for i, g in enumerate(gts):
        for box, label in zip(g["boxes"], g["labels"]):
            w, h = box[2] - box[0], box[3] - box[1]
            annotations.append({"id": len(annotations) + 1, "image_id": i + 1, "category_id": int(label) + 1,
                                "bbox": [box[0], box[1], w, h], "area": w * h, "iscrowd": 0})
    results = [{"image_id": i + 1, "category_id": int(label) + 1, "score": float(score),
                "bbox": [box[0], box[1], box[2] - box[0], box[3] - box[1]]}
               for i, p in enumerate(preds) for box, label, score in zip(p["boxes"], p["labels"], p["scores"])]
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = {"images": images, "annotations": annotations,
                           "categories": [{"id": k + 1, "name": str(k)} for k in range(num_classes)]}
        coco_gt.createIndex()
        evaluator = COCOeval(coco_gt, coco_gt.loadRes(results), "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return evaluator


def _nan_for_minus_one(x):
    x = np.array(x, dtype=np.float64)
    x[x == -1] = np.nan
    return x


def _assert_matches_cocoeval(preds, gts, num_classes):
    ours = D.coco_evaluate(preds, gts, num_classes)
    ref = _cocoeval(preds, gts, num_classes)
    np.testing.assert_allclose(ours["precision"], _nan_for_minus_one(ref.eval["precision"]), atol=1e-6, rtol=0)
    np.testing.assert_allclose(ours["recall"], _nan_for_minus_one(ref.eval["recall"]), atol=1e-6, rtol=0)
    np.testing.assert_allclose([ours[k] for k in STAT_KEYS], _nan_for_minus_one(ref.stats), atol=1e-6, rtol=0)
    precision = ref.eval["precision"][:, :, :, 0, -1]
    for k in range(num_classes):
        p = precision[:, :, k]
        expected = p[p > -1].mean() if (p > -1).any() else np.nan
        np.testing.assert_allclose(ours["ap_per_class"][k], expected, atol=1e-6, equal_nan=True)
    return ours


@pytest.mark.parametrize("seed", range(5))
def test_coco_matches_pycocotools_on_random_cases(seed):
    rng = np.random.default_rng(seed)
    preds, gts = _random_case(rng)
    ours = _assert_matches_cocoeval(preds, gts, 3)
    assert 0 < ours["ap"] < 1  # a non-trivial case


def test_coco_more_than_100_detections_and_area_ranges():
    rng = np.random.default_rng(10)
    preds, gts = _random_case(rng, num_images=3, num_classes=1, max_gt=30, max_det=160, scale=400.0,
                              min_det=110)
    assert min(len(p["scores"]) for p in preds) > 100  # the 100-per-image cap is exercised
    ours = _assert_matches_cocoeval(preds, gts, 1)
    assert ours["ar1"] < ours["ar10"] <= ours["ar100"]


def test_coco_ties_empty_images_and_missing_classes():
    boxes = np.array([[10, 10, 50, 50], [10, 10, 50, 50], [60, 60, 200, 220]], dtype=np.float64)
    gts = [
        {"boxes": boxes, "labels": np.array([0, 0, 1])},  # two identical ground truths: IoU ties
        {"boxes": np.zeros((0, 4)), "labels": np.zeros(0, int)},  # no ground truth, only false positives
        {"boxes": np.array([[0, 0, 20, 30.0]]), "labels": np.array([0])},  # no detections
        {"boxes": np.zeros((0, 4)), "labels": np.zeros(0, int)},  # nothing at all
        # equal IoU 0.5 with both: pycocotools gives the first detection the later object, so the
        # second detection (IoU 1 with the first object, 1/3 with the other) is also a hit.
        {"boxes": np.array([[0, 0, 10, 20], [0, 0, 20, 10.0]]), "labels": np.array([0, 0])},
        # a small object (ignored in the medium range) overlapping a detection more than a medium
        # object does: in the medium range the detection must match the medium object.
        {"boxes": np.array([[0, 0, 30, 30], [0, 0, 40, 40.0]]), "labels": np.array([1, 1])},
    ]
    preds = [
        {"boxes": np.array([[12, 10, 50, 52], [10, 10, 50, 50], [11, 11, 49, 49], [60, 60, 200, 220.0]]),
         "labels": np.array([0, 0, 0, 1]), "scores": np.array([0.9, 0.9, 0.8, 0.7])},
        {"boxes": np.array([[5, 5, 40, 40.0]]), "labels": np.array([2]), "scores": np.array([0.95])},
        {"boxes": np.zeros((0, 4)), "labels": np.zeros(0, int), "scores": np.zeros(0)},
        {"boxes": np.zeros((0, 4)), "labels": np.zeros(0, int), "scores": np.zeros(0)},
        {"boxes": np.array([[0, 0, 10, 10], [0, 0, 10, 20.0]]), "labels": np.array([0, 0]),
         "scores": np.array([0.9, 0.8])},
        {"boxes": np.array([[0, 0, 31, 31.0]]), "labels": np.array([1]), "scores": np.array([0.9])},
    ]
    ours = _assert_matches_cocoeval(preds, gts, 3)
    # class 0 at IoU 0.5: 4 of 5 objects found (the third image has no detections)
    assert ours["recall"][0, 0, 0, -1] == pytest.approx(0.8)
    assert ours["precision"][0, 0, 1, 2, -1] == pytest.approx(1.0)  # medium range, IoU 0.5
    assert np.isnan(ours["ap_per_class"][2])  # class 2 has no ground truth: left out


def test_coco_hand_values():
    gts = [{"boxes": np.array([[0, 0, 10, 10.0], [20, 20, 30, 30.0]]), "labels": np.array([0, 0])}]
    # one exact hit, and one detection covering half of the second object: IoU 50 / 100 = 0.5 exactly
    preds = [{"boxes": np.array([[0, 0, 10, 10.0], [20, 20, 25, 30.0]]), "labels": np.array([0, 0]),
              "scores": np.array([0.9, 0.8])}]
    out = D.coco_evaluate(preds, gts, 1)
    # The second pair is a hit only at IoU threshold 0.5 (matches need IoU >= threshold).
    # At 0.5 both are found (AP 1); at 0.55..0.95 recall stops at 0.5 with precision 1 -> 51/101.
    expected_ap = (1.0 + 9 * 51 / 101) / 10
    assert out["ap"] == pytest.approx(expected_ap, abs=1e-12)
    assert out["ap50"] == pytest.approx(1.0) and out["ap75"] == pytest.approx(51 / 101)
    assert out["ar100"] == pytest.approx((1.0 + 9 * 0.5) / 10)
    assert out["ar1"] == pytest.approx(0.5)
    assert np.isnan(out["ap_medium"]) and out["ap_small"] == pytest.approx(expected_ap)


# ----------------------------------------------------------------------------- VOC

def _matlab_colon(a, d, b):
    """MATLAB's a:d:b element by element, after its colonop.m (first half a + k d, second half
    b - k d, the middle (a + b) / 2), written out independently of cnnlab."""
    tol = 2.0 * np.finfo(float).eps * max(abs(a), abs(b))
    n = int(round((b - a) / d))
    if a + n * d - b > tol:
        n -= 1
    last = b if a + n * d - b > -tol else a + n * d
    v = [0.0] * (n + 1)
    for k in range(n // 2 + 1):
        v[k] = a + k * d
        v[n - k] = last - k * d
    if n % 2 == 0:
        v[n // 2] = (a + last) / 2
    return v


def _devkit_ap07(rec, prec):
    """VOCevaldet.m's loop: for t=0:0.1:1, p=max(prec(rec>=t)); if isempty(p), p=0; end; ap=ap+p/11."""
    ap = 0.0
    for t in _matlab_colon(0.0, 0.1, 1.0):
        reached = [p for p, r in zip(prec, rec) if r >= t and not np.isnan(p)]  # MATLAB's max skips NaN
        ap += (max(reached) if reached else 0.0) / 11
    return ap


def _devkit_reference(preds, gts, num_classes, use_07, plus_one, threshold=0.5):
    """A loop-by-loop transcription of VOCevaldet.m / VOCap.m, written independently."""
    one = 1.0 if plus_one else 0.0
    aps = []
    for c in range(num_classes):
        gt_boxes, gt_diff, used = {}, {}, {}
        npos = 0
        for i, g in enumerate(gts):
            gt_boxes[i] = [list(b) for b, l in zip(g["boxes"], g["labels"]) if l == c]
            gt_diff[i] = [bool(d) for d, l in zip(g.get("difficult", np.zeros(len(g["labels"]))), g["labels"]) if l == c]
            used[i] = [False] * len(gt_boxes[i])
            npos += sum(not d for d in gt_diff[i])
        dets = [(float(s), i, list(b)) for i, p in enumerate(preds)
                for b, l, s in zip(p["boxes"], p["labels"], p["scores"]) if l == c]
        ranked = sorted(range(len(dets)), key=lambda k: (-dets[k][0], k))  # MATLAB's stable sort
        tp, fp = [], []
        for _, i, bb in (dets[k] for k in ranked):
            ovmax, jmax = -np.inf, -1
            for j, bbgt in enumerate(gt_boxes[i]):
                iw = min(bb[2], bbgt[2]) - max(bb[0], bbgt[0]) + one
                ih = min(bb[3], bbgt[3]) - max(bb[1], bbgt[1]) + one
                if iw > 0 and ih > 0:
                    ua = ((bb[2] - bb[0] + one) * (bb[3] - bb[1] + one)
                          + (bbgt[2] - bbgt[0] + one) * (bbgt[3] - bbgt[1] + one) - iw * ih)
                    ov = iw * ih / ua
                    if ov > ovmax:
                        ovmax, jmax = ov, j
            t, f = 0, 0
            if ovmax >= threshold:
                if not gt_diff[i][jmax]:
                    if not used[i][jmax]:
                        t, used[i][jmax] = 1, True
                    else:
                        f = 1
            else:
                f = 1
            tp.append(t)
            fp.append(f)
        if npos == 0:
            aps.append(np.nan)
            continue
        ctp = np.cumsum(tp).astype(int)
        cfp = np.cumsum(fp).astype(int)
        rec = [t / npos for t in ctp]
        # Before any counted detection (only 'difficult' hits so far) precision is 0, as in the
        # devkit's Python port; MATLAB's 0/0 = NaN is dropped by its NaN-ignoring max() to the same effect.
        prec = [t / (t + f) if t + f else 0.0 for t, f in zip(ctp, cfp)]
        if use_07:
            ap = _devkit_ap07(rec, prec)
        else:
            mrec = [0.0] + rec + [1.0]
            mpre = [0.0] + prec + [0.0]
            for i in range(len(mpre) - 2, -1, -1):
                mpre[i] = max(mpre[i], mpre[i + 1])
            ap = sum((mrec[i] - mrec[i - 1]) * mpre[i] for i in range(1, len(mrec)) if mrec[i] != mrec[i - 1])
        aps.append(ap)
    return np.array(aps)


@pytest.mark.parametrize("seed", range(4))
def test_voc_matches_devkit_reference(seed):
    rng = np.random.default_rng(100 + seed)
    preds, gts = _random_case(rng, num_images=8, num_classes=3)
    if seed == 3:  # integer pixel boxes, where the +1 convention and exact IoU ties matter
        for entry in preds + gts:
            entry["boxes"] = np.round(entry["boxes"])
            entry["boxes"][:, 2:] = np.maximum(entry["boxes"][:, 2:], entry["boxes"][:, :2])
    for use_07 in (False, True):
        for plus_one in (False, True):
            out = D.voc_evaluate(preds, gts, 3, use_07_metric=use_07, plus_one=plus_one)
            ref = _devkit_reference(preds, gts, 3, use_07, plus_one)
            np.testing.assert_allclose(out["ap_per_class"], ref, rtol=0, atol=1e-12, equal_nan=True)
            assert out["map"] == pytest.approx(np.nanmean(ref), abs=1e-12)


def test_voc_hand_computed():
    """Class 0: 3 objects (one difficult) over two images; 4 detections.

    Ranked: d1 0.9 hits A (tp), d2 0.8 hits A again (fp, duplicate), d3 0.7 on the
    difficult object (ignored), d4 0.6 hits B (tp). npos = 2.
    precision = [1, 1/2, 1/2, 2/3], recall = [1/2, 1/2, 1/2, 1] (the ignored d3 repeats the point).
    all-point: 0.5 * 1 + 0.5 * 2/3 = 5/6.  11-point: 6 points at 1 and 5 at 2/3 -> (6 + 10/3) / 11.
    """
    gts = [{"boxes": np.array([[0, 0, 10, 10.0], [50, 50, 60, 60.0]]), "labels": np.array([0, 0]),
            "difficult": np.array([False, True])},
           {"boxes": np.array([[0, 0, 20, 20.0]]), "labels": np.array([0]), "difficult": np.array([False])}]
    preds = [{"boxes": np.array([[0, 0, 10, 10.0], [1, 0, 10, 10.0], [50, 50, 60, 61.0]]),
              "labels": np.array([0, 0, 0]), "scores": np.array([0.9, 0.8, 0.7])},
             {"boxes": np.array([[0, 0, 19, 20.0]]), "labels": np.array([0]), "scores": np.array([0.6])}]
    out = D.voc_evaluate(preds, gts, 1)
    assert set(out) == {"map", "ap_per_class", "num_positives", "precision", "recall"}
    assert out["ap_per_class"][0] == pytest.approx(5 / 6, abs=1e-12)
    np.testing.assert_allclose(out["precision"][0], [1, 1 / 2, 1 / 2, 2 / 3])
    np.testing.assert_allclose(out["recall"][0], [1 / 2, 1 / 2, 1 / 2, 1])
    out07 = D.voc_evaluate(preds, gts, 1, use_07_metric=True)
    assert out07["map"] == pytest.approx((6 + 5 * 2 / 3) / 11, abs=1e-12)
    # A recall of exactly 0.3 stops below the devkit's fourth threshold 0.30000000000000004.
    assert D.voc_ap(np.array([0.3]), np.array([1.0]), use_07_metric=True) == pytest.approx(3 / 11, abs=1e-15)


def test_voc07_thresholds_are_matlabs_colon():
    """The devkit's 0:0.1:1 in MATLAB, to the bit; py-faster-rcnn's np.arange differs at 0.6 and 0.7."""
    expected = _matlab_colon(0.0, 0.1, 1.0)
    assert D.VOC07_RECALL_THRESHOLDS.tolist() == expected  # exact doubles
    assert expected[3] == 0.30000000000000004 and expected[6] == 0.6 and expected[7] == 0.7
    np.testing.assert_array_equal(D.matlab_colon(0.0, 0.1, 1.0), expected)
    arange = np.arange(0.0, 1.1, 0.1)  # py-faster-rcnn's voc_eval.py
    differs = np.flatnonzero(arange != D.VOC07_RECALL_THRESHOLDS)
    assert differs.tolist() == [6, 7] and arange[6] == 0.6000000000000001 and arange[7] == 0.7000000000000001
    for a, d, b in [(0.0, 0.1, 0.3), (0.0, 0.1, 0.4), (-1.0, 0.01, 1.0), (0.0, 0.25, 1.0), (0.0, 0.3, 1.0)]:
        assert D.matlab_colon(a, d, b).tolist() == _matlab_colon(a, d, b)


def _one_image(num_objects, hits_then_misses):
    """num_objects square objects in a row; detections in score order: True = an exact hit on the next
    object, False = a box on no object."""
    gt = np.array([[20.0 * j, 0.0, 20.0 * j + 10, 10.0] for j in range(num_objects)])
    boxes, found = [], 0
    for hit in hits_then_misses:
        if hit:
            boxes.append(gt[found])
            found += 1
        else:
            boxes.append([0.0, 500.0, 10.0, 510.0])
    n = len(boxes)
    preds = [{"boxes": np.array(boxes).reshape(-1, 4), "labels": np.zeros(n, int),
              "scores": np.linspace(0.9, 0.1, n)}]
    gts = [{"boxes": gt, "labels": np.zeros(num_objects, int)}]
    return preds, gts


def test_voc07_ten_objects_three_hits_then_a_false_positive():
    """recall 0.1, 0.2, 0.3, 0.3 at precision 1, 1, 1, 0.75: thresholds 0, 0.1, 0.2 reach precision 1 and
    0.30000000000000004 is out of reach, so AP = 3/11 = 0.2727 (the decimal 0.3 would give 4/11 = 0.3636)."""
    preds, gts = _one_image(10, [True, True, True, False])
    out = D.voc_evaluate(preds, gts, 1, use_07_metric=True)
    np.testing.assert_allclose(out["recall"][0], [0.1, 0.2, 0.3, 0.3])
    assert out["map"] == pytest.approx(3 / 11, abs=1e-15)
    assert round(out["map"], 4) == 0.2727
    # Three of five objects: recall 0.6 reaches MATLAB's 0.6 (py-faster-rcnn's 0.6000000000000001 would not).
    preds, gts = _one_image(5, [True, True, True, False])
    assert D.voc_evaluate(preds, gts, 1, use_07_metric=True)["map"] == pytest.approx(7 / 11, abs=1e-15)


@pytest.mark.parametrize("seed", range(6))
def test_voc07_matches_the_devkit_loop_on_recalls_at_tenths(seed):
    """Random hit/miss orders over 5, 10 or 20 objects, so recalls land exactly on multiples of 0.1."""
    rng = np.random.default_rng(200 + seed)
    for num_objects in (5, 10, 20):
        order = rng.permutation(np.r_[np.ones(int(rng.integers(1, num_objects + 1)), bool),
                                      np.zeros(int(rng.integers(0, 8)), bool)])
        preds, gts = _one_image(num_objects, order.tolist())
        out = D.voc_evaluate(preds, gts, 1, use_07_metric=True)
        tp = np.cumsum(order)
        rec = tp / num_objects
        prec = tp / np.arange(1, len(order) + 1)
        assert out["map"] == pytest.approx(_devkit_ap07(rec.tolist(), prec.tolist()), abs=1e-15)
        assert D.voc_ap(rec, prec, use_07_metric=True) == pytest.approx(_devkit_ap07(rec.tolist(), prec.tolist()),
                                                                        abs=1e-15)


def test_voc_iou_equal_to_threshold_is_a_hit():
    gts = [{"boxes": np.array([[0, 0, 10, 10.0]]), "labels": np.array([0])}]
    preds = [{"boxes": np.array([[0, 0, 5, 10.0]]), "labels": np.array([0]), "scores": np.array([0.5])}]
    assert D.voc_evaluate(preds, gts, 1)["map"] == 1.0  # IoU 0.5 >= 0.5, as in VOCevaldet.m
    assert D.voc_evaluate(preds, gts, 1, iou_threshold=0.51)["map"] == 0.0


def test_voc_class_without_ground_truth_is_nan_and_skipped():
    gts = [{"boxes": np.array([[0, 0, 10, 10.0]]), "labels": np.array([0])}]
    preds = [{"boxes": np.array([[0, 0, 10, 10.0], [0, 0, 5, 5.0]]), "labels": np.array([0, 1]),
              "scores": np.array([0.5, 0.9])}]
    out = D.voc_evaluate(preds, gts, 2)
    assert out["ap_per_class"][0] == 1.0 and np.isnan(out["ap_per_class"][1]) and out["map"] == 1.0


def test_input_errors():
    good = {"boxes": np.zeros((1, 4)), "labels": np.array([0]), "scores": np.array([0.5])}
    gt = {"boxes": np.array([[0, 0, 1, 1.0]]), "labels": np.array([0])}
    with pytest.raises(ValueError, match="same images"):
        D.coco_evaluate([good], [gt, gt], 1)
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        D.voc_evaluate([good], [{"boxes": gt["boxes"], "labels": np.array([-1])}], 1)
    with pytest.raises(ValueError, match="yxyx_to_xyxy"):
        D.coco_evaluate([{**good, "boxes": np.array([[5, 0, 1, 1.0]])}], [gt], 1)
    with pytest.raises(ValueError, match="scores"):
        D.coco_evaluate([{"boxes": good["boxes"], "labels": good["labels"]}], [gt], 1)
    with pytest.raises(ValueError, match="shape"):
        D.voc_evaluate([good], [{"boxes": np.zeros((2, 4)), "labels": np.array([0])}], 1)
