"""Bar plot of a classifier's top classes for one image, written as PNG.

Takes what ``cnnlab.pretrained.decode_predictions`` returns for one image
(``(id, name, probability)`` triples, most likely first); nothing is recomputed.
"""
import numpy as np

from cnnlab.viz.figure_io import new_figure, save_figure
from cnnlab.viz.images import as_display_batch


def plot_top_predictions(predictions, out_path, image=None, title: str | None = None) -> str:
    """Horizontal bars of the top classes' probabilities (best on top), optionally beside the image.

    predictions: list of (id, name, probability); image: (H, W, 3) in [0, 1].
    """
    if not predictions:
        raise ValueError("plot_top_predictions needs at least one (id, name, probability) triple.")
    names = [str(p[1]) for p in predictions]
    probs = np.asarray([float(p[2]) for p in predictions])
    if np.any(probs < 0) or np.any(probs > 1 + 1e-6):
        raise ValueError(f"probabilities must lie in [0, 1], got {probs.tolist()}; apply softmax first.")
    fig = new_figure(8.0 if image is not None else 5.5, max(2.0, 0.45 * len(names) + 1.0))
    if image is not None:
        img_ax, ax = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.6]})
        img_ax.imshow(as_display_batch(np.asarray(image)[None])[0])
        img_ax.set_axis_off()
    else:
        ax = fig.add_subplot(1, 1, 1)
    positions = np.arange(len(names))[::-1]  # best class at the top
    bars = ax.barh(positions, probs, color="tab:blue")
    ax.set_yticks(positions, labels=names)
    ax.set_xlim(0.0, 1.0)
    ax.set_xlabel("probability")
    for bar, p in zip(bars, probs):
        ax.text(min(p + 0.01, 0.85), bar.get_y() + bar.get_height() / 2, f"{p:.3f}", va="center", fontsize=8)
    if title:
        ax.set_title(title)
    return save_figure(fig, out_path)
