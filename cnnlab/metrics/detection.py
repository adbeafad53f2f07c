"""Object-detection mean average precision: PASCAL VOC and COCO protocols.

Inputs, one entry per image, in the same order for both lists:
  predictions[i]   = {"boxes": (D, 4) pixel x1, y1, x2, y2, "labels": (D,) int, "scores": (D,)}
  ground_truths[i] = {"boxes": (G, 4) pixel x1, y1, x2, y2, "labels": (G,) int,
                      optional "difficult": (G,) bool}
Labels are class indices 0..K-1. Boxes are pixels because COCO's small /
medium / large split is defined by pixel areas (convert normalised boxes with
``cnnlab.boxes.to_pixels``). Images may have no ground truth or no
detections. There are no crowd regions.

``coco_evaluate`` reproduces pycocotools' ``COCOeval`` (bbox): areas and IoU
without the +1 pixel term, greedy matching per IoU threshold, 101-point
interpolated precision. ``voc_evaluate`` follows the PASCAL VOC devkit
(VOCevaldet.m): detections matched in score order to the most-overlapping
ground truth with IoU >= threshold, duplicates are false positives, and
detections on ``difficult`` objects count as neither; AP is all-point
(VOC2010+) or 11-point (VOC2007) interpolated, the 11 recall thresholds being
the devkit's MATLAB ``0:0.1:1`` to the last bit (``VOC07_RECALL_THRESHOLDS``).
Undefined scores (a class with no ground truth) are nan and left out of the means.

Both return lowercase snake-case keys: ``voc_evaluate`` "map" and
"ap_per_class"; ``coco_evaluate`` "ap", "ap50", "ap75", "ap_small", ...,
"ar100", and "ap_per_class".
"""
import numpy as np

COCO_IOU_THRESHOLDS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)
COCO_RECALL_THRESHOLDS = np.linspace(0.0, 1.0, int(np.round((1.0 - 0.0) / 0.01)) + 1, endpoint=True)
COCO_AREA_RANGES = {
    "all": (0.0, 1e5 ** 2),
    "small": (0.0, 32.0 ** 2),
    "medium": (32.0 ** 2, 96.0 ** 2),
    "large": (96.0 ** 2, 1e5 ** 2),
}
COCO_MAX_DETECTIONS = (1, 10, 100)


def matlab_colon(start: float, step: float, stop: float) -> np.ndarray:
    """The doubles of MATLAB's ``start:step:stop`` (step > 0), computed as MATLAB computes them.

    MATLAB adds multiples of ``step`` to ``start`` for the first half and
    subtracts them from the end point for the second half (its ``colonop``),
    so ``0:0.1:1`` holds 0.6 and 0.7 where ``np.arange(0., 1.1, 0.1)``
    (py-faster-rcnn's port) holds 0.6000000000000001 and 0.7000000000000001;
    both hold 0.30000000000000004.
    """
    if not step > 0:
        raise ValueError(f"step must be > 0, got {step}.")
    tol = 2.0 * np.finfo(np.float64).eps * max(abs(start), abs(stop))
    n = int(round((stop - start) / step))
    if start + n * step - stop > tol:
        n -= 1
    if n < 0:
        return np.zeros(0)
    last = start + n * step
    if last - stop > -tol:
        last = stop
    values = np.zeros(n + 1)
    k = np.arange(n // 2 + 1)
    values[k] = start + k * step
    values[n - k] = last - k * step
    if n % 2 == 0:
        values[n // 2] = (start + last) / 2
    return values


VOC07_RECALL_THRESHOLDS = matlab_colon(0.0, 0.1, 1.0)  # VOCevaldet.m: for t=0:0.1:1


# ----------------------------------------------------------------------------- inputs

def _boxes(entry, key_path):
    boxes = np.asarray(entry["boxes"], dtype=np.float64)
    if boxes.size == 0:
        return boxes.reshape(0, 4)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"{key_path}['boxes'] must have shape (N, 4), got {boxes.shape}.")
    if not np.all(np.isfinite(boxes)):
        raise ValueError(f"{key_path}['boxes'] contains nan or inf.")
    if np.any(boxes[:, 2] < boxes[:, 0]) or np.any(boxes[:, 3] < boxes[:, 1]):
        raise ValueError(
            f"{key_path}['boxes'] has boxes with x2 < x1 or y2 < y1; boxes must be "
            "(x1, y1, x2, y2) - convert (y1, x1, y2, x2) boxes with cnnlab.boxes.yxyx_to_xyxy."
        )
    return boxes


def _vector(entry, key, n, key_path, dtype):
    if key not in entry:
        raise ValueError(f"{key_path} is missing the key {key!r}.")
    values = np.asarray(entry[key]).reshape(-1)
    if values.shape != (n,):
        raise ValueError(f"{key_path}[{key!r}] must have shape ({n},) to match its boxes, got {values.shape}.")
    return values.astype(dtype)


def _prepare(predictions, ground_truths, num_classes):
    """Validated per-image arrays: (pred boxes, labels, scores), (gt boxes, labels, difficult)."""
    if len(predictions) != len(ground_truths):
        raise ValueError(
            f"predictions ({len(predictions)} images) and ground_truths ({len(ground_truths)} images) "
            "must list the same images in the same order."
        )
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}.")
    preds, gts = [], []
    for i, (p, g) in enumerate(zip(predictions, ground_truths)):
        for name, entry in (("predictions", p), ("ground_truths", g)):
            if not isinstance(entry, dict) or "boxes" not in entry:
                raise ValueError(f"{name}[{i}] must be a dict with 'boxes', 'labels'"
                                 f"{', scores' if name == 'predictions' else ''}.")
        pb = _boxes(p, f"predictions[{i}]")
        pl = _vector(p, "labels", len(pb), f"predictions[{i}]", np.int64)
        ps = _vector(p, "scores", len(pb), f"predictions[{i}]", np.float64)
        if not np.all(np.isfinite(ps)):
            raise ValueError(f"predictions[{i}]['scores'] contains nan or inf.")
        gb = _boxes(g, f"ground_truths[{i}]")
        gl = _vector(g, "labels", len(gb), f"ground_truths[{i}]", np.int64)
        if "difficult" in g:
            gd = _vector(g, "difficult", len(gb), f"ground_truths[{i}]", bool)
        else:
            gd = np.zeros(len(gb), dtype=bool)
        for name, labels in (("predictions", pl), ("ground_truths", gl)):
            if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
                raise ValueError(
                    f"{name}[{i}]['labels'] must be in [0, {num_classes}), got "
                    f"[{labels.min()}, {labels.max()}]; drop padding rows (label -1) first."
                )
        preds.append((pb, pl, ps))
        gts.append((gb, gl, gd))
    return preds, gts


def _areas(boxes):
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def _iou_matrix(a, b, plus_one=0.0):
    """IoU (len(a), len(b)); pairs that do not overlap get -inf (0 overlap is not a match)."""
    w = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]) + plus_one
    h = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]) + plus_one
    area_a = (a[:, 2] - a[:, 0] + plus_one) * (a[:, 3] - a[:, 1] + plus_one)
    area_b = (b[:, 2] - b[:, 0] + plus_one) * (b[:, 3] - b[:, 1] + plus_one)
    overlap = (w > 0) & (h > 0)
    inter = np.where(overlap, w * h, 0.0)
    union = area_a[:, None] + area_b[None, :] - inter
    iou = np.zeros_like(inter)
    np.divide(inter, union, out=iou, where=overlap & (union > 0))
    return np.where(overlap, iou, -np.inf)


# ----------------------------------------------------------------------------- VOC

def voc_ap(recall, precision, use_07_metric: bool = False) -> float:
    """AP from a precision/recall curve in score order.

    All-point (VOC2010+): area under the precision envelope at each recall
    change. 11-point (VOC2007): the devkit's ``p = max(prec(rec >= t))`` (0
    when no recall reaches t) averaged over its 11 thresholds
    ``VOC07_RECALL_THRESHOLDS``; the fourth is 0.30000000000000004, so a
    recall of exactly 3/10 does not reach it.
    """
    recall = np.asarray(recall, dtype=np.float64)
    precision = np.asarray(precision, dtype=np.float64)
    if recall.shape != precision.shape or recall.ndim != 1:
        raise ValueError(f"recall and precision must be 1-D of one length, got {recall.shape}, {precision.shape}.")
    if use_07_metric:
        total = 0.0
        for t in VOC07_RECALL_THRESHOLDS:
            reached = precision[recall >= t]
            total += reached.max() if reached.size else 0.0
        return float(total / 11)
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[0.0], precision, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    change = np.flatnonzero(mrec[1:] != mrec[:-1]) + 1
    return float(np.sum((mrec[change] - mrec[change - 1]) * mpre[change]))


def voc_evaluate(predictions, ground_truths, num_classes: int, *, iou_threshold: float = 0.5,
                 use_07_metric: bool = False, plus_one: bool = False) -> dict:
    """PASCAL VOC mAP at one IoU threshold.

    plus_one: use the devkit's integer-pixel convention (width = x2 - x1 + 1);
    keep False for continuous coordinates such as rescaled normalised boxes.
    Returns {"map": float, "ap_per_class": (K,) with nan for classes without
    non-difficult ground truth, "num_positives": (K,), "precision"/"recall":
    per-class curves in score order}.
    """
    preds, gts = _prepare(predictions, ground_truths, num_classes)
    offset = 1.0 if plus_one else 0.0
    ap = np.full(num_classes, np.nan)
    num_positives = np.zeros(num_classes, dtype=np.int64)
    curves_p, curves_r = [], []
    for c in range(num_classes):
        gt_boxes = [gb[gl == c] for gb, gl, _ in gts]
        gt_difficult = [gd[gl == c] for _, gl, gd in gts]
        used = [np.zeros(len(b), dtype=bool) for b in gt_boxes]
        npos = int(sum((~d).sum() for d in gt_difficult))
        num_positives[c] = npos
        image_of, scores, boxes = [], [], []
        for i, (pb, pl, ps) in enumerate(preds):
            mine = pl == c
            image_of.append(np.full(int(mine.sum()), i))
            scores.append(ps[mine])
            boxes.append(pb[mine])
        image_of = np.concatenate(image_of)
        scores = np.concatenate(scores)
        boxes = np.concatenate(boxes).reshape(-1, 4)
        order = np.argsort(-scores, kind="stable")
        tp = np.zeros(len(order))
        fp = np.zeros(len(order))
        for rank, d in enumerate(order):
            i = image_of[d]
            if len(gt_boxes[i]) == 0:
                fp[rank] = 1
                continue
            overlaps = _iou_matrix(boxes[d:d + 1], gt_boxes[i], offset)[0]
            j = int(np.argmax(overlaps))
            if overlaps[j] >= iou_threshold:
                if not gt_difficult[i][j]:
                    if not used[i][j]:
                        tp[rank] = 1
                        used[i][j] = True
                    else:
                        fp[rank] = 1
            else:
                fp[rank] = 1
        tp, fp = np.cumsum(tp), np.cumsum(fp)
        recall = tp / npos if npos else np.full(tp.shape, np.nan)
        precision = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
        curves_p.append(precision)
        curves_r.append(recall)
        if npos:
            ap[c] = voc_ap(recall, precision, use_07_metric)
    defined = ~np.isnan(ap)
    return {
        "map": float(ap[defined].mean()) if defined.any() else float("nan"),
        "ap_per_class": ap,
        "num_positives": num_positives,
        "precision": curves_p,
        "recall": curves_r,
    }


# ----------------------------------------------------------------------------- COCO

def _match_image(ious, gt_ignore, iou_thresholds):
    """COCOeval.evaluateImg's greedy matching for one image and class, all area ranges at once.

    ious (D, G) for score-sorted detections; gt_ignore (A, G).
    Returns matched (A, T, D) bool and matched_ignored (A, T, D) bool.
    """
    num_dets, num_gts = ious.shape
    num_areas, num_thr = gt_ignore.shape[0], len(iou_thresholds)
    matched = np.zeros((num_areas, num_thr, num_dets), dtype=bool)
    on_ignored = np.zeros((num_areas, num_thr, num_dets), dtype=bool)
    if num_dets == 0 or num_gts == 0:
        return matched, on_ignored
    thr = np.minimum(iou_thresholds, 1 - 1e-10)[None, :, None]  # (1, T, 1)
    available = np.ones((num_areas, num_thr, num_gts), dtype=bool)
    ignore = gt_ignore[:, None, :]  # (A, 1, G)
    position = np.arange(num_gts)
    for d in range(num_dets):
        row = ious[d]  # (G,)
        if row.max() < thr.min():
            continue
        candidate = available & (row[None, None, :] >= thr)  # (A, T, G)
        regular = candidate & ~ignore
        chosen_set = np.where(regular.any(axis=-1, keepdims=True), regular, candidate)
        value = np.where(chosen_set, row[None, None, :], -np.inf)
        best = value.max(axis=-1, keepdims=True)
        at_best = chosen_set & (value == best)
        # pycocotools replaces its choice on equal IoU, so the last gt wins a tie.
        choice = np.max(np.where(at_best, position, -1), axis=-1)  # (A, T)
        hit = choice >= 0
        safe = np.maximum(choice, 0)
        matched[:, :, d] = hit
        on_ignored[:, :, d] = hit & np.take_along_axis(np.broadcast_to(ignore, available.shape),
                                                       safe[..., None], axis=-1)[..., 0]
        a_idx, t_idx = np.nonzero(hit)
        available[a_idx, t_idx, safe[a_idx, t_idx]] = False
    return matched, on_ignored


def coco_evaluate(predictions, ground_truths, num_classes: int, *,
                  max_detections=COCO_MAX_DETECTIONS) -> dict:
    """COCO box AP/AR over IoU 0.50:0.05:0.95 with 101-point interpolation.

    max_detections: detections kept per image and class, increasing; AP uses
    the last (100). Returns the 12 ``COCOeval.summarize`` numbers under
    "ap", "ap50", "ap75", "ap_small", "ap_medium", "ap_large", "ar1", "ar10",
    "ar100" (named after ``max_detections``), "ar_small", "ar_medium",
    "ar_large"; "ap_per_class" (K,); and the raw "precision" (T, R, K, A, M)
    and "recall" (T, K, A, M) arrays. Where pycocotools reports -1 (nothing to
    score) these hold nan. The ``difficult`` flags are not used.
    """
    preds, gts = _prepare(predictions, ground_truths, num_classes)
    max_dets = tuple(int(m) for m in max_detections)
    if not max_dets or any(m < 1 for m in max_dets) or list(max_dets) != sorted(max_dets):
        raise ValueError(f"max_detections must be increasing positive ints, got {max_detections}.")
    iou_thr = COCO_IOU_THRESHOLDS
    rec_thr = COCO_RECALL_THRESHOLDS
    area_rng = np.array(list(COCO_AREA_RANGES.values()))  # (A, 2)
    num_t, num_r, num_a, num_m = len(iou_thr), len(rec_thr), len(area_rng), len(max_dets)
    precision = np.full((num_t, num_r, num_classes, num_a, num_m), np.nan)
    recall = np.full((num_t, num_classes, num_a, num_m), np.nan)

    for k in range(num_classes):
        scores, ranks, matched, on_ignored, outside = [], [], [], [], []
        num_regular = np.zeros(num_a, dtype=np.int64)
        for (pb, pl, ps), (gb, gl, _) in zip(preds, gts):
            g = gb[gl == k]
            mine = np.flatnonzero(pl == k)
            order = mine[np.argsort(-ps[mine], kind="stable")][:max_dets[-1]]
            if len(g) == 0 and len(order) == 0:
                continue
            g_area = _areas(g)
            gt_ignore = (g_area[None, :] < area_rng[:, :1]) | (g_area[None, :] > area_rng[:, 1:])
            num_regular += (~gt_ignore).sum(axis=1)
            d = pb[order]
            ious = np.maximum(_iou_matrix(d, g), 0.0)
            m, ig = _match_image(ious, gt_ignore, iou_thr)
            d_area = _areas(d)
            out = (d_area[None, :] < area_rng[:, :1]) | (d_area[None, :] > area_rng[:, 1:])  # (A, D)
            scores.append(ps[order])
            ranks.append(np.arange(len(order)))
            matched.append(m)
            on_ignored.append(ig)
            outside.append(out)
        if not scores:
            continue
        scores = np.concatenate(scores)
        ranks = np.concatenate(ranks)
        matched = np.concatenate(matched, axis=-1)  # (A, T, D)
        ignored = np.concatenate(on_ignored, axis=-1) | (~matched & np.concatenate(outside, axis=-1)[:, None, :])
        for mi, max_det in enumerate(max_dets):
            keep = np.flatnonzero(ranks < max_det)
            order = keep[np.argsort(-scores[keep], kind="stable")]
            for a in range(num_a):
                npig = num_regular[a]
                if npig == 0:
                    continue
                hits = matched[a][:, order]
                skip = ignored[a][:, order]
                tp = np.cumsum(hits & ~skip, axis=1).astype(np.float64)  # (T, D)
                fp = np.cumsum(~hits & ~skip, axis=1).astype(np.float64)
                nd = tp.shape[1]
                rc = tp / npig
                pr = tp / (fp + tp + np.spacing(1))
                pr = np.maximum.accumulate(pr[:, ::-1], axis=1)[:, ::-1]
                recall[:, k, a, mi] = rc[:, -1] if nd else 0.0
                for t in range(num_t):
                    idx = np.searchsorted(rc[t], rec_thr, side="left")
                    q = np.zeros(num_r)
                    inside = idx < nd
                    q[inside] = pr[t, idx[inside]]
                    precision[t, :, k, a, mi] = q
    return _coco_summary(precision, recall, iou_thr, max_dets)


def _mean_defined(values) -> float:
    values = values[~np.isnan(values)]
    return float(values.mean()) if values.size else float("nan")


def _coco_summary(precision, recall, iou_thr, max_dets) -> dict:
    areas = list(COCO_AREA_RANGES)
    all_, last = areas.index("all"), len(max_dets) - 1

    def ap(area="all", iou=None):
        p = precision if iou is None else precision[np.flatnonzero(iou_thr == iou)]
        return _mean_defined(p[:, :, :, areas.index(area), last])

    def ar(area="all", mi=last):
        return _mean_defined(recall[:, :, areas.index(area), mi])

    stats = {
        "ap": ap(),
        "ap50": ap(iou=0.5),
        "ap75": ap(iou=0.75),
        "ap_small": ap("small"),
        "ap_medium": ap("medium"),
        "ap_large": ap("large"),
    }
    for mi, m in enumerate(max_dets):
        stats[f"ar{m}"] = ar(mi=mi)
    stats.update({"ar_small": ar("small"), "ar_medium": ar("medium"), "ar_large": ar("large")})
    per_class = precision[:, :, :, all_, last]  # (T, R, K)
    stats["ap_per_class"] = np.array([_mean_defined(per_class[:, :, k].ravel())
                                      for k in range(per_class.shape[2])])
    stats["precision"] = precision
    stats["recall"] = recall
    return stats
