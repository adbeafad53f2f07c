"""Segmentation confusion matrix and IoU scores against straightforward numpy loops."""
import cnnlab  # noqa: F401
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnlab.metrics import segmentation as S


def _reference(masks, preds, k, ignore=255):
    """Pixel-by-pixel counting and the textbook formulas, classes skipped where undefined."""
    cm = np.zeros((k, k), dtype=np.int64)
    for t, p in zip(masks.ravel(), preds.ravel()):
        if t != ignore:
            cm[t, p] += 1
    correct = sum(cm[i, i] for i in range(k))
    total = cm.sum()
    acc, ious = [], []
    fw = 0.0
    for i in range(k):
        true_i, pred_i = cm[i, :].sum(), cm[:, i].sum()
        if true_i > 0:
            acc.append(cm[i, i] / true_i)
        union = true_i + pred_i - cm[i, i]
        ious.append(cm[i, i] / union if union > 0 else np.nan)
        if union > 0:
            fw += true_i / total * cm[i, i] / union
    return cm, {
        "pixel_accuracy": correct / total,
        "mean_class_accuracy": np.mean(acc),
        "per_class_iou": np.array(ious),
        "mean_iou": np.mean([v for v in ious if not np.isnan(v)]),
        "frequency_weighted_iou": fw,
    }


def _batch(rng, k, shape=(2, 6, 7)):
    masks = rng.integers(0, k - 1, shape)  # class k-1 never true
    masks[rng.random(shape) < 0.15] = 255
    preds = np.where(rng.random(shape) < 0.6, np.where(masks == 255, 0, masks), rng.integers(0, k, shape))
    preds[preds == 2] = 1  # class 2 never predicted
    return masks, preds


@pytest.mark.parametrize("seed", range(3))
def test_scores_match_loop_reference(seed):
    rng = np.random.default_rng(seed)
    k = 5
    update = jax.jit(S.confusion_update)
    cm = jnp.zeros((k, k), jnp.int32)
    all_masks, all_preds = [], []
    for _ in range(3):  # accumulate over the evaluation set
        masks, preds = _batch(rng, k)
        cm = update(cm, masks, preds)
        all_masks.append(masks)
        all_preds.append(preds)
    ref_cm, ref = _reference(np.concatenate(all_masks), np.concatenate(all_preds), k)
    np.testing.assert_array_equal(np.asarray(cm), ref_cm)
    scores = S.segmentation_scores(np.asarray(cm))
    for key, value in ref.items():
        np.testing.assert_allclose(scores[key], value, rtol=1e-12, equal_nan=True)


def test_absent_class_is_skipped_and_hand_values():
    # 3 classes; class 2 appears in neither truth nor prediction.
    masks = np.array([[0, 0, 1, 255]])
    preds = np.array([[0, 1, 1, 2]])  # the ignored pixel's prediction does not count
    cm = S.confusion_update(jnp.zeros((3, 3), jnp.int32), masks, preds)
    np.testing.assert_array_equal(np.asarray(cm), [[1, 1, 0], [0, 1, 0], [0, 0, 0]])
    iou = S.per_class_iou(cm)
    np.testing.assert_allclose(iou[:2], [0.5, 0.5])
    assert np.isnan(iou[2])
    assert S.mean_iou(cm) == pytest.approx(0.5)
    assert S.pixel_accuracy(cm) == pytest.approx(2 / 3)
    assert S.mean_class_accuracy(cm) == pytest.approx((0.5 + 1.0) / 2)
    assert S.frequency_weighted_iou(cm) == pytest.approx(2 / 3 * 0.5 + 1 / 3 * 0.5)


def test_custom_ignore_label_and_empty():
    cm = S.confusion_update(np.zeros((2, 2), np.int32), np.array([[0, -1, 1]]), np.array([[0, 0, 0]]),
                            ignore_label=-1)
    np.testing.assert_array_equal(np.asarray(cm), [[1, 0], [1, 0]])
    empty = np.zeros((2, 2))
    assert np.isnan(S.pixel_accuracy(empty)) and np.isnan(S.mean_iou(empty))
    with pytest.raises(ValueError, match="square"):
        S.mean_iou(np.zeros((2, 3)))
