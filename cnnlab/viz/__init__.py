"""PNG figures for runs: curves, filter/activation grids, ROC/PR, confusion, boxes, masks.

Every figure function takes arrays and an output path, renders with
matplotlib's Agg backend (no pyplot state, no display) and returns the path.
"""
from cnnlab.viz.activations import (activation_grid, all_intermediates, filter_grid,
                                    layer_activations)
from cnnlab.viz.classification import (confusion_matrix_figure, gallery_order, normalize_confusion,
                                       plot_confusion_matrix, plot_pr, plot_roc, pr_figure,
                                       prediction_gallery, prediction_gallery_figure, roc_figure)
from cnnlab.viz.curves import (load_metrics, metric_series, plot_training_curves,
                               training_curves_figure)
from cnnlab.viz.detection import boxes_figure, boxes_to_pixels, draw_boxes, draw_predictions
from cnnlab.viz.grids import image_grid, save_grid_png, tile_images, vis_square
from cnnlab.viz.palette import class_color, label_palette
from cnnlab.viz.segmentation import (colorize_mask, overlay_mask, plot_segmentation,
                                     segmentation_figure, write_overlays)

__all__ = [
    "activation_grid", "all_intermediates", "boxes_figure", "boxes_to_pixels", "class_color",
    "colorize_mask", "confusion_matrix_figure", "draw_boxes", "draw_predictions", "filter_grid",
    "gallery_order", "image_grid", "label_palette", "layer_activations", "load_metrics",
    "metric_series", "normalize_confusion", "overlay_mask", "plot_confusion_matrix", "plot_pr",
    "plot_roc", "plot_segmentation", "plot_training_curves", "pr_figure", "prediction_gallery",
    "prediction_gallery_figure", "roc_figure", "save_grid_png", "segmentation_figure",
    "tile_images", "training_curves_figure", "vis_square", "write_overlays",
]
