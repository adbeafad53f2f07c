"""Sweeps and ablations with several seeds, reporting mean and spread per value or variant.

`sweep(config, workdir, field, values, seeds)` trains (or reuses) one run per
(value, seed) in `workdir/<field>=<value>/seed<seed>` and writes into `workdir`:

  sweep_runs.csv   one row per run: value, seed, every test metric
  sweep.csv        one row per value: n, and mean / std / min / max of each metric
  sweep.md         the summary as a Markdown table

`ablate(config, workdir, variants, seeds)` does the same for named variants,
each a set of field overrides of the same base config (`{'baseline': {},
'ema': {'train.ema_decay': 0.99}}`), into `workdir/<variant>/seed<seed>` and
`ablation*.csv|md|json`, plus `ablation.png` (mean and spread of a metric
per variant, each seed a dot).

`std` is the sample standard deviation (ddof=1; 0 for a single seed).
"""
import csv
import json
import os
import re
from typing import Sequence

import numpy as np

from cnnlab.experiments import runs


def value_label(value) -> str:
    """A folder-safe spelling of a swept value: 0.001 -> 0.001, (32, 32) -> 32x32."""
    if isinstance(value, (tuple, list)):
        return "x".join(value_label(v) for v in value)
    return re.sub(r"[^\w.+-]", "_", str(value))


def parse_sweep(spec: str):
    """('optim.lr', [0.1, 0.01]) from 'optim.lr=0.1,0.01'."""
    if "=" not in spec:
        raise ValueError(f"--sweep={spec!r} must be field=v1,v2,... (e.g. optim.lr=0.1,0.01,0.001).")
    field, values = spec.split("=", 1)
    parsed = runs.parse_value(values)
    if not isinstance(parsed, tuple) or "(" in values or "[" in values:
        # one value, or values that are tuples themselves: split on top-level commas
        parsed = tuple(runs.parse_value(v) for v in _top_level_split(values))
    if not parsed or not field.strip():
        raise ValueError(f"--sweep={spec!r} names no values.")
    return field.strip(), list(parsed)


def _top_level_split(text: str):
    parts, depth, current = [], 0, ""
    for ch in text:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += ch
    if current.strip():
        parts.append(current.strip())
    return parts


def parse_seeds(text: str):
    """[0, 1, 2] from '0,1,2'."""
    try:
        seeds = [int(s) for s in str(text).split(",") if s.strip()]
    except ValueError:
        raise ValueError(f"--seeds={text!r} must be integers separated by commas, e.g. 0,1,2.") from None
    if not seeds:
        raise ValueError("--seeds names no seed; give e.g. --seeds=0,1,2.")
    return seeds


def aggregate(values: Sequence[float]) -> dict:
    """n, mean, std (ddof=1; 0 for one value), min, max of the finite numbers in `values`."""
    x = np.asarray([v for v in values if v is not None and np.isfinite(v)], np.float64)
    if x.size == 0:
        return {"n": 0, "mean": None, "std": None, "min": None, "max": None}
    return {"n": int(x.size), "mean": float(x.mean()),
            "std": float(x.std(ddof=1)) if x.size > 1 else 0.0,
            "min": float(x.min()), "max": float(x.max())}


def _train_groups(config, workdir, groups, seeds, verbose):
    """Trains or reuses a run per (group, seed); `groups` is [(value, folder, overrides)].
    Returns (records, summary, metric names)."""
    if not groups or not seeds:
        raise ValueError("a sweep needs at least one value and one seed.")
    for _, _, overrides in groups:  # an unknown field or bad type fails here, before any run
        runs.apply_overrides(config, overrides)
    os.makedirs(workdir, exist_ok=True)
    records = []
    for value, folder, overrides in groups:
        for seed in seeds:
            run_config = runs.apply_overrides(config, {**overrides, "train.seed": int(seed)})
            run_dir = os.path.join(workdir, folder, f"seed{seed}")
            outcome = runs.train_or_reuse(run_config, run_dir, verbose)
            metrics = {k: float(v) for k, v in outcome["test"].items()
                       if k.startswith(("test/", "test_ema/"))}
            records.append({"value": value, "seed": int(seed), "status": outcome["status"],
                            "train_time_s": outcome["train_time"], "metrics": metrics, "run": run_dir})
    metric_names = sorted({k for r in records for k in r["metrics"]})
    summary = []
    for value, _, _ in groups:
        group = [r for r in records if r["value"] == value]
        row = {"value": value, "n": 0}
        for name in metric_names:  # n: the runs with any metric (test_ema/ only where EMA is on)
            stats = aggregate([r["metrics"].get(name) for r in group])
            row["n"] = max(row["n"], stats["n"])
            row.update({f"{name}/{k}": v for k, v in stats.items() if k != "n"})
        summary.append(row)
    return records, summary, metric_names


def sweep(config, workdir: str, field: str, values: Sequence, seeds: Sequence[int] = (0,),
          verbose: bool = True) -> dict:
    """Trains or reuses every (value, seed) run and writes the per-run and summary tables.

    Returns {'runs': [{value, seed, status, metrics}], 'summary': [{value, n,
    '<metric>/mean', '<metric>/std', ...}], 'paths': {...}}.
    """
    groups = [(v, f"{field}={value_label(v)}", {field: v}) for v in values]
    records, summary, metric_names = _train_groups(config, workdir, groups, seeds, verbose)
    paths = _write(workdir, field, records, summary, metric_names)
    return {"runs": records, "summary": summary, "paths": paths}


def parse_variant(spec: str):
    """('ema', {'train.ema_decay': 0.99}) from 'ema:train.ema_decay=0.99'; several overrides
    are separated by ';' ('baseline:' has none)."""
    name, sep, rest = spec.partition(":")
    if not sep or not name.strip() or not re.fullmatch(r"[\w.+-]+", name.strip()):
        raise ValueError(f"--variant={spec!r} must be NAME:field=value[;field=value...] with a "
                         f"folder-safe NAME, e.g. ema:train.ema_decay=0.99 or baseline:")
    overrides = {}
    for item in filter(None, (p.strip() for p in rest.split(";"))):
        if "=" not in item:
            raise ValueError(f"--variant={spec!r}: {item!r} is not field=value.")
        key, value = item.split("=", 1)
        overrides[key.strip()] = runs.parse_value(value)
    return name.strip(), overrides


def ablate(config, workdir: str, variants: dict, seeds: Sequence[int] = (0,),
           verbose: bool = True, metric: str = "test/accuracy") -> dict:
    """Trains or reuses every (variant, seed) run of `variants` ({name: overrides}, in order)
    and writes ablation_runs.csv, ablation.csv, ablation.md, ablation.json and ablation.png
    (`metric` per variant: mean and spread, each seed a dot)."""
    groups = [(name, name, dict(overrides)) for name, overrides in variants.items()]
    records, summary, metric_names = _train_groups(config, workdir, groups, seeds, verbose)
    for row in summary:
        row["overrides"] = variants[row["value"]]
    paths = _write(workdir, "variant", records, summary, metric_names, stem="ablation")
    if metric in metric_names:
        from cnnlab.viz.ablation import plot_ablation
        paths["png"] = plot_ablation(records, metric, os.path.join(workdir, "ablation.png"),
                                     order=list(variants))
    return {"runs": records, "summary": summary, "paths": paths}


def _write(workdir, field, records, summary, metric_names, stem: str = "sweep") -> dict:
    paths = {"runs_csv": os.path.join(workdir, f"{stem}_runs.csv"),
             "csv": os.path.join(workdir, f"{stem}.csv"), "md": os.path.join(workdir, f"{stem}.md"),
             "json": os.path.join(workdir, f"{stem}.json")}
    with open(paths["runs_csv"], "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([field, "seed", "status", "train_time_s"] + metric_names)
        for r in records:
            writer.writerow([r["value"], r["seed"], r["status"], f"{r['train_time_s']:.1f}"]
                            + [r["metrics"].get(m, "") for m in metric_names])
    stat_columns = [f"{m}/{s}" for m in metric_names for s in ("mean", "std", "min", "max")]
    with open(paths["csv"], "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([field, "n"] + stat_columns)
        for row in summary:
            writer.writerow([row["value"], row["n"]] + [row.get(c, "") for c in stat_columns])
    with open(paths["md"], "w") as f:
        f.write(f"| {field} | n | " + " | ".join(metric_names) + " |\n")
        f.write("|" + "|".join("---" for _ in range(len(metric_names) + 2)) + "|\n")
        for row in summary:
            cells = []
            for m in metric_names:
                mean, std = row.get(f"{m}/mean"), row.get(f"{m}/std")
                cells.append("n/a" if mean is None else f"{mean:.4f} ± {std:.4f}")
            f.write(f"| {row['value']} | {row['n']} | " + " | ".join(cells) + " |\n")
    with open(paths["json"], "w") as f:
        json.dump({"field": field, "runs": records, "summary": summary}, f, indent=2, default=str)
    return paths
