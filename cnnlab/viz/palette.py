"""Fixed class colours, so a class keeps its colour across every figure of a run."""
import matplotlib
import numpy as np


def label_palette(num_colors: int = 256) -> np.ndarray:
    """The PASCAL VOC label palette: uint8 (num_colors, 3), colour of label i at row i.

    Label 0 (background) is black and label 255 (the ``ignore`` value of
    segmentation masks) is a pale cream, as in VOC's own PNG masks. The bits
    of the label index are spread over the high bits of R, G and B in turn,
    which keeps neighbouring labels far apart in colour.
    """
    if num_colors < 1:
        raise ValueError(f"num_colors must be >= 1; got {num_colors}.")
    index = np.arange(num_colors, dtype=np.int64)
    rgb = np.zeros((num_colors, 3), dtype=np.int64)
    for shift in range(8):  # bit `shift` of each 3-bit group goes to bit 7 - shift
        group = index >> (3 * shift)
        for channel in range(3):
            rgb[:, channel] |= ((group >> channel) & 1) << (7 - shift)
    return rgb.astype(np.uint8)


def class_color(class_index: int) -> tuple:
    """An RGB colour in [0, 1] for detection class ``class_index`` (cycles after 20)."""
    colors = matplotlib.colormaps["tab20"].colors  # 10 dark/light pairs
    ordered = colors[0::2] + colors[1::2]  # the 10 strong colours first
    return tuple(ordered[int(class_index) % len(ordered)])
