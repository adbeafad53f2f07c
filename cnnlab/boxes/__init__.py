"""Bounding boxes: formats, IoU/GIoU, NMS, anchors, anchor coding and matching.

Imports only numpy and jax; the detection models, tasks and metrics build on it.
"""
from cnnlab.boxes.anchors import (anchor_shapes, anchors_per_location, grid_anchors,
                                  linear_scales, multilevel_anchors)
from cnnlab.boxes.coding import SSD_VARIANCES, decode_boxes, encode_boxes
from cnnlab.boxes.formats import (FORMATS, clip_boxes, convert, cxcywh_to_xyxy, to_normalized,
                                  to_pixels, xywh_to_xyxy, xyxy_to_cxcywh, xyxy_to_xywh,
                                  xyxy_to_yxyx, yxyx_to_xyxy)
from cnnlab.boxes.iou import (box_area, elementwise_giou, elementwise_iou, pairwise_giou,
                              pairwise_iou)
from cnnlab.boxes.matching import BACKGROUND, IGNORED, match_anchors
from cnnlab.boxes.nms import batched_nms, nms, nms_padded
