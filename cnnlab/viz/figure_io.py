"""Creating matplotlib figures without pyplot and writing them as PNG files.

Every figure in ``cnnlab.viz`` goes through here, so no function touches
pyplot's global state and every output is rendered by the Agg backend, which
needs no display (servers, CI, notebooks alike).
"""
import os

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def check_png_path(out_path) -> str:
    """Returns ``out_path`` as a string after checking it names a ``.png`` file.

    Creates the parent folder, so callers can write into a fresh run directory.
    """
    path = os.fspath(out_path)
    if not path.lower().endswith(".png"):
        raise ValueError(
            f"cnnlab.viz writes PNG files; got out_path={path!r}. "
            "Give a path ending in '.png'.")
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    return path


def new_figure(width: float, height: float, dpi: int = 100,
               layout: str | None = "constrained") -> Figure:
    """A detached figure (not registered with pyplot) of ``width x height`` inches.

    The PNG written by ``save_figure`` at the same ``dpi`` is exactly
    ``round(width * dpi) x round(height * dpi)`` pixels.
    """
    fig = Figure(figsize=(width, height), dpi=dpi, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, out_path, dpi: int = 100) -> str:
    """Renders ``fig`` with Agg into the PNG file ``out_path``; returns the path."""
    path = check_png_path(out_path)
    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    fig.savefig(path, format="png", dpi=dpi)
    return path
