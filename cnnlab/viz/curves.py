"""Training curves from a run's ``metrics.jsonl``: one subplot per metric, splits overlaid.

Each line of the log is one JSON object, e.g.
``{"step": 100, "epoch": 1.0, "train/loss": 0.5, "val/loss": 0.6, "lr": 0.001}``.
Lines may carry only some keys (train lines and eval lines are written at
different steps), so every series is gathered from the lines that have it.
"""
import math
import os

import numpy as np

from cnnlab.viz.figure_io import new_figure, save_figure

SPLITS = ("train", "val", "test")
_SPLIT_STYLE = {"train": "-", "val": "-", "test": "--"}


def load_metrics(jsonl_path) -> list:
    """Reads ``metrics.jsonl`` into a list of dicts (skips blank lines and a cut-off last line)."""
    path = os.fspath(jsonl_path)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"No metrics file at {path!r}; give the metrics.jsonl inside a run directory.")
    from cnnlab.train.logs import read_metrics  # here: cnnlab.train imports the training stack
    return read_metrics(path)


def _as_float(value):
    """A real number as float, or None for missing/non-numeric values (bools excluded)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return None
    return float(value)


def metric_series(records, key: str, x: str = "step"):
    """(xs, ys) float arrays of ``key`` against ``x`` over the records that hold both.

    Non-finite values (NaN, inf) are dropped; points are sorted by x.
    """
    xs, ys = [], []
    for record in records:
        xv, yv = _as_float(record.get(x)), _as_float(record.get(key))
        if xv is None or yv is None or not (math.isfinite(xv) and math.isfinite(yv)):
            continue
        xs.append(xv)
        ys.append(yv)
    order = np.argsort(np.asarray(xs, dtype=np.float64), kind="stable")
    return np.asarray(xs, dtype=np.float64)[order], np.asarray(ys, dtype=np.float64)[order]


def available_metrics(records) -> list:
    """Base metric names found under train/, val/ or test/ prefixes; losses first."""
    names = set()
    for record in records:
        for key in record:
            split, sep, base = key.partition("/")
            if sep and split in SPLITS and base and _as_float(record[key]) is not None:
                names.add(base)  # scalar metrics only: per-class lists are not curves
    return sorted(names, key=lambda n: ("loss" not in n, n))


def training_curves_figure(jsonl_path_or_records, metrics=None, x: str = "step"):
    """The figure of ``plot_training_curves``, returned unsaved (for tests and notebooks)."""
    if isinstance(jsonl_path_or_records, (str, os.PathLike)):
        records = load_metrics(jsonl_path_or_records)
    else:
        records = list(jsonl_path_or_records)
        if not all(isinstance(r, dict) for r in records):
            raise ValueError("Records must be dicts, one per logged line of metrics.jsonl.")
    if not any(_as_float(r.get(x)) is not None for r in records):
        raise ValueError(
            f"No record has a numeric {x!r}; plot against a key the log holds, e.g. x='step' or x='epoch'.")
    found = available_metrics(records)
    if metrics is None:
        metrics = found
    elif isinstance(metrics, str):
        metrics = [metrics]
    if not metrics:
        raise ValueError("No train/, val/ or test/ metrics in the log; nothing to plot.")

    panels = []  # (title, [(label, xs, ys)])
    for name in metrics:
        curves = [(split, *metric_series(records, f"{split}/{name}", x)) for split in SPLITS]
        curves = [c for c in curves if len(c[1])]
        if not curves:
            xs, ys = metric_series(records, name, x)
            if len(xs):
                curves = [(name, xs, ys)]
        if not curves:
            raise ValueError(
                f"Metric {name!r} has no finite values against {x!r} in the log. "
                f"Logged metrics: {', '.join(found) or 'none'}.")
        panels.append((name, curves))

    ncols = min(len(panels), 3)
    nrows = math.ceil(len(panels) / ncols)
    fig = new_figure(4.5 * ncols, 3.4 * nrows)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax, (name, curves) in zip(axes.flat, panels):
        for label, xs, ys in curves:
            marker = "o" if len(xs) < 30 else None
            ax.plot(xs, ys, _SPLIT_STYLE.get(label, "-"), marker=marker, markersize=3, label=label)
        all_y = np.concatenate([c[2] for c in curves])
        if "loss" in name and np.all(all_y > 0):
            ax.set_yscale("log")
        ax.set_title(name)
        ax.set_xlabel(x)
        ax.grid(True, alpha=0.3)
        ax.legend()
    return fig


def plot_training_curves(jsonl_path_or_records, out_path, metrics=None, x: str = "step") -> str:
    """One subplot per metric, train/val/test curves against ``x``; writes a PNG, returns the path.

    Takes a ``metrics.jsonl`` path or its records (list of dicts). ``metrics``
    are base names (``['loss', 'accuracy']``); by default every metric logged
    under a split prefix. A name logged without prefix (``'lr'``) is drawn as
    its own single curve. Metrics with 'loss' in the name use a log y axis
    when all their values are positive. ``x`` is 'step' or 'epoch'.
    """
    return save_figure(training_curves_figure(jsonl_path_or_records, metrics, x), out_path)
