"""Side-by-side comparison of several classifier configs on the same data and split.

`compare(configs, workdir)` trains each config into `workdir/<name>` (or
reuses a finished run there), evaluates it with `report.write_report` (its
JSON and figures land in its run directory), and writes into `workdir`:

  comparison.csv / comparison.md   accuracy, precision, recall, F1, AUC,
                                   average precision, log loss, parameters,
                                   train time, per model
  roc.png                          every model's ROC curve, AUCs in the legend

Binary tasks report the positive class's precision/recall/F1 (`pos_label`);
multi-class tasks report macro averages. Prerequisite configs (a pretraining
run the others start from) are trained first into `workdir/<name>` and left
out of the table.
"""
import csv
import json
import os
from typing import Optional, Sequence

from cnnlab.experiments import report as report_lib
from cnnlab.experiments import runs
from cnnlab.viz import classification as cls_viz

COLUMNS = ("model", "accuracy", "precision", "recall", "f1", "auc", "average_precision",
           "log_loss", "parameters", "train_time_s", "run")
# Data fields that may differ between compared configs: they transform the same examples
# (an ImageNet network reads CIFAR upscaled to its input size) but do not change which.
FREE_DATA_FIELDS = ("augment", "preprocess", "image_size")


def check_same_data(configs: dict) -> None:
    """Raises ValueError when two configs read different data or splits."""
    reference_name, reference = None, None
    for name, config in configs.items():
        data = {k: v for k, v in config.data.to_dict().items() if k not in FREE_DATA_FIELDS}
        if reference is None:
            reference_name, reference = name, data
            continue
        for key in sorted(set(data) | set(reference)):
            if data.get(key) != reference.get(key):
                raise ValueError(
                    f"configs {reference_name!r} and {name!r} differ in data.{key} "
                    f"({reference.get(key)!r} vs {data.get(key)!r}); a comparison needs the same "
                    "data and split (only data.augment, data.preprocess and data.image_size may differ).")


def _fmt(value, digits=4):
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def markdown_table(rows: Sequence[dict], columns=COLUMNS) -> str:
    """A GitHub Markdown table of `rows` (dicts) in `columns` order."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for row in rows:
        cells = [_fmt(row.get(c), 1 if c == "train_time_s" else 4) for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_table(rows: Sequence[dict], workdir: str, stem: str = "comparison") -> dict:
    """Writes `rows` as `<stem>.csv` and `<stem>.md` in `workdir`; returns the paths."""
    paths = {"csv": os.path.join(workdir, f"{stem}.csv"), "md": os.path.join(workdir, f"{stem}.md")}
    with open(paths["csv"], "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(COLUMNS), extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({c: ("" if row.get(c) is None else row.get(c)) for c in COLUMNS})
    with open(paths["md"], "w") as f:
        f.write(markdown_table(rows))
    return paths


def compare(configs: dict, workdir: str, *, prerequisites: Optional[dict] = None,
            split: str = "test", pos_label=None, verbose: bool = True) -> dict:
    """Trains or reuses every config and writes the comparison table and ROC figure.

    configs / prerequisites: {name: ConfigDict}, in run order. Returns
    {'rows': [...], 'statuses': {name: 'trained' | 'reused'}, 'paths': {...}}.
    """
    if not configs:
        raise ValueError("compare needs at least one config.")
    check_same_data(configs)
    os.makedirs(workdir, exist_ok=True)
    statuses = {}
    for name, config in (prerequisites or {}).items():
        statuses[name] = runs.train_or_reuse(config, os.path.join(workdir, name), verbose)["status"]
    rows, roc_curves, positive = [], {}, None
    for name, config in configs.items():
        run_dir = os.path.join(workdir, name)
        outcome = runs.train_or_reuse(config, run_dir, verbose)
        statuses[name] = outcome["status"]
        numbers = report_lib.write_report(run_dir, split=split, pos_label=pos_label)
        rows.append({
            "model": name, "accuracy": numbers["accuracy"], "precision": numbers["precision"],
            "recall": numbers["recall"], "f1": numbers["f1"], "auc": numbers["auc"],
            "average_precision": numbers["average_precision"], "log_loss": numbers["log_loss"],
            "parameters": numbers["parameters"], "train_time_s": outcome["train_time"],
            "run": run_dir,
        })
        curves = numbers["curves"]["roc"]
        positive = numbers.get("positive_class", positive)
        if len(curves) == 1:  # binary: the positive class's curve
            fpr, tpr, auc = next(iter(curves.values()))
            roc_curves[name] = (fpr, tpr, auc)
    paths = write_table(rows, workdir)
    if roc_curves:
        title = f"ROC on {split}" + (f" (positive class {positive!r})" if positive else "")
        paths["roc"] = cls_viz.plot_roc(roc_curves, os.path.join(workdir, "roc.png"), title=title)
    with open(os.path.join(workdir, "comparison.json"), "w") as f:
        json.dump({"rows": rows, "statuses": statuses, "split": split}, f, indent=2)
    return {"rows": rows, "statuses": statuses, "paths": paths}


def compare_files(config_paths: Sequence[str], workdir: str, *, overrides: Optional[dict] = None,
                  prerequisite_paths: Sequence[str] = (), **kwargs) -> dict:
    """`compare` over config files; `overrides` ({field: value}) apply to every config that has the field.

    A field that no config has is a ValueError (a typo would otherwise be ignored).
    """
    overrides = overrides or {}
    loaded = {}
    for path in list(prerequisite_paths) + list(config_paths):
        name = runs.config_name(path)
        if name in loaded:
            raise ValueError(f"two configs are named {name!r}; run names come from file names, "
                             "so give each config a distinct file name.")
        loaded[name] = runs.load_config_file(path)
    for key in overrides:
        if not any(runs.has_field(c, key) for c in loaded.values()):
            raise ValueError(f"no config has the field {key!r} given in --config_overrides.")
    loaded = {n: runs.apply_overrides(c, overrides, only_existing=True) for n, c in loaded.items()}
    pre_names = [runs.config_name(p) for p in prerequisite_paths]
    prerequisites = {n: loaded[n] for n in pre_names}
    configs = {n: c for n, c in loaded.items() if n not in prerequisites}
    return compare(configs, workdir, prerequisites=prerequisites, **kwargs)
