"""Explaining a prediction of any Linen classifier: Grad-CAM, saliency, SmoothGrad, IG, occlusion.

Every function takes (model, variables, x (B, H, W, 3) preprocessed model
inputs, classes (B,) or one int) and runs jitted over the whole batch.
Gradients are of the class logit (before softmax); occlusion reports the
class probability. ``overlay`` and ``save_explanation_png`` draw the maps.
"""
from cnnlab.explain.attribution import (attribution_map, gradients, input_gradients, integrated_gradients,
                                        saliency, smoothgrad)
from cnnlab.explain.figures import explanation_figure, normalize_heatmap, overlay, save_explanation_png
from cnnlab.explain.gradcam import grad_cam, grad_cam_map, upsample_heatmap
from cnnlab.explain.occlusion import grey_fill, occlusion, occlusion_grid, occlusion_to_pixels
from cnnlab.explain.report import METHODS, TITLES, check_methods, explanation_maps
from cnnlab.explain.taps import Tap, apply_with_tap, as_classes, class_scores, feature_tap, tap_names

__all__ = [
    "METHODS", "TITLES", "Tap", "apply_with_tap", "as_classes", "attribution_map", "check_methods", "class_scores",
    "explanation_figure", "explanation_maps", "feature_tap", "grad_cam", "grad_cam_map", "gradients",
    "grey_fill", "input_gradients", "integrated_gradients", "normalize_heatmap", "occlusion", "occlusion_grid",
    "occlusion_to_pixels", "overlay", "saliency", "save_explanation_png", "smoothgrad", "tap_names",
    "upsample_heatmap",
]
