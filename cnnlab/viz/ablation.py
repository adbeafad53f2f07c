"""The figure of an ablation: one metric per variant, mean and spread over seeds."""
import numpy as np

from cnnlab.viz.figure_io import new_figure, save_figure


def plot_ablation(records, metric: str, out_path: str, order=None) -> str:
    """A horizontal bar per variant at the mean of `metric` over its seeds, a line over
    min..max, each seed a dot, the first variant (the baseline) as a dashed reference line.
    Variants with EMA weights are shown by those (`<split>_ema/<name>`).

    `records` are `cnnlab.experiments.sweep.ablate`'s runs: dicts with 'value' (the
    variant), 'seed' and 'metrics'.
    """
    names = list(order or dict.fromkeys(r["value"] for r in records))
    # a variant that kept an EMA is shown by its EMA weights ('test/accuracy' -> 'test_ema/...'):
    # its raw weights train exactly as the baseline's
    split, _, leaf = metric.partition("/")
    ema_metric = f"{split}_ema/{leaf}"

    def value(r):
        return r["metrics"].get(ema_metric, r["metrics"].get(metric))

    values = [[value(r) for r in records if r["value"] == name and value(r) is not None]
              for name in names]
    names = [name + (" (EMA weights)" if any(ema_metric in r["metrics"] for r in records
                                             if r["value"] == name) else "") for name in names]
    fig = new_figure(6.4, 0.5 * len(names) + 1.4)
    ax = fig.add_subplot()
    ys = np.arange(len(names))[::-1]
    for y, vals in zip(ys, values):
        if not vals:
            continue
        mean = float(np.mean(vals))
        ax.barh(y, mean, color="#9ecae1", height=0.6)
        ax.plot([min(vals), max(vals)], [y, y], color="#08519c", lw=1.5)
        ax.plot(vals, [y] * len(vals), "o", color="#08519c", ms=4)
        ax.text(mean, y + 0.32, f"{mean:.4f}", ha="center", va="bottom", fontsize=8)
    if values and values[0]:
        ax.axvline(float(np.mean(values[0])), color="0.3", ls="--", lw=1,
                   label=f"{names[0]} mean")
        ax.legend(loc="lower right", fontsize=8)
    ax.set_yticks(ys)
    ax.set_yticklabels(names)
    finite = [v for vals in values for v in vals]
    if finite:
        low, high = min(finite), max(finite)
        pad = max(high - low, 0.01) * 0.6
        ax.set_xlim(max(low - pad, 0.0), high + pad)
    ax.set_xlabel(metric + " (bar: mean over seeds, line: min..max, dots: seeds)")
    return save_figure(fig, out_path)
