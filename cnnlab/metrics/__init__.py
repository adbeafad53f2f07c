"""Metrics: jittable streaming sums and host-side finalisers (numpy and jax only).

  streaming       per-batch counts inside the step: confusion, correct, top-k, log-loss sums
  classification  accuracy, top-k, confusion matrix, precision/recall/F, log loss
  ranking         ROC curve, ROC AUC, precision-recall curve, average precision
  segmentation    whole-set confusion matrix, pixel/class accuracy, IoU, mIoU, fwIoU
  detection       PASCAL VOC and COCO mean average precision

A function named like a scikit-learn metric (``precision_score``,
``confusion_matrix``, ``roc_auc_score``, ...) takes scikit-learn's arguments
and returns its result; cnnlab's forms for class indices and confusion
matrices have names of their own (``confusion_from_labels``,
``scores_from_confusion``, ``accuracy``, ...).
"""
from cnnlab.metrics import classification, detection, ranking, segmentation, streaming

__all__ = ["classification", "detection", "ranking", "segmentation", "streaming"]
