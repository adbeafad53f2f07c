"""Run bookkeeping shared by compare and sweep: load configs, override fields, train or reuse.

A run directory is *finished* when its `metrics.jsonl` holds a test record
at the run's last logged step and its latest checkpoint is at that step
(`cnnlab.train.run` writes the test record only after the last step, or
after early stopping). `train_or_reuse` trains a config into a directory
unless a finished run of the same config is already there; a finished run
of a different config is an error rather than silently reused.
"""
import ast
import json
import os
import re
import runpy
import time

import ml_collections

from cnnlab.train import logs, loop

TRAIN_TIME_FILE = "train_time.json"
_KEY = re.compile(r"^[A-Za-z_][\w.]*=")


def load_config_file(path: str) -> ml_collections.ConfigDict:
    """The config of a `configs/*.py` file (`get_config()`; `file.py:arg` passes arg)."""
    file_path, _, arg = path.partition(":")
    if not os.path.isfile(file_path):
        raise FileNotFoundError(f"config file {file_path!r} does not exist; pass a path to a "
                                "configs/*.py file that defines get_config().")
    module = runpy.run_path(file_path)
    if "get_config" not in module:
        raise ValueError(f"{file_path} defines no get_config(); it is not a config file.")
    return module["get_config"](arg) if arg else module["get_config"]()


def config_name(path: str) -> str:
    """A run name from a config path: configs/compare_cats_dogs/conv.py -> conv."""
    return os.path.splitext(os.path.basename(path.partition(":")[0]))[0]


def parse_value(text: str):
    """A Python literal (1, 0.1, (32, 32), True, 'x') or, failing that, the text itself."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_overrides(items) -> dict:
    """{'train.epochs': 1, ...} from strings 'train.epochs=1,optim.lr=0.1' (several allowed).

    A comma starts a new override only when what follows looks like
    `field.path=`, so tuple values such as data.classes=('cat','dog') survive.
    """
    if isinstance(items, str):
        items = [items]
    overrides = {}
    for item in items or ():
        parts = []
        for piece in item.split(","):
            if parts and not _KEY.match(piece.strip()):
                parts[-1] += "," + piece
            else:
                parts.append(piece)
        for part in parts:
            part = part.strip()
            if not part:
                continue
            if "=" not in part:
                raise ValueError(f"override {part!r} is not field=value (e.g. train.epochs=2).")
            key, value = part.split("=", 1)
            overrides[key.strip()] = parse_value(value.strip())
    return overrides


def has_field(config, key: str) -> bool:
    node = config
    for part in key.split("."):
        if not hasattr(node, "keys") or part not in node:
            return False
        node = node[part]
    return True


def set_field(config, key: str, value) -> None:
    """Sets the dotted field `key` of `config`; an unknown field is a ValueError naming the options."""
    from cnnlab.train.defaults import addable
    parts = key.split(".")
    if not has_field(config, key) and addable(config, key):  # e.g. model.drop_path_rate
        if parts[0] == "data" and "augment" not in config.data:
            config.data.augment = ml_collections.ConfigDict()
        node = config[parts[0]] if len(parts) == 2 else config.data.augment
        node[parts[-1]] = value
        return
    node = config
    for i, part in enumerate(parts):
        fields = list(node.keys()) if hasattr(node, "keys") else []
        if part not in fields:
            where = ".".join(parts[:i]) or "the config"
            raise ValueError(f"unknown config field {key!r}: {where} has fields "
                             f"{', '.join(sorted(map(str, fields))) or '(none)'}.")
        if i < len(parts) - 1:
            node = node[part]
    try:
        node[parts[-1]] = value
    except TypeError as error:
        raise ValueError(f"cannot set {key}={value!r}: {error}") from None


def apply_overrides(config, overrides: dict, only_existing: bool = False):
    """A copy of `config` with `overrides` set; `only_existing` skips fields the config lacks."""
    config = ml_collections.ConfigDict(config.to_dict())
    for key, value in overrides.items():
        if only_existing and not has_field(config, key):
            continue
        set_field(config, key, value)
    return config


def checkpoint_steps(workdir: str) -> list:
    """Steps of the saved checkpoints in `workdir/checkpoints` (sorted)."""
    folder = os.path.join(workdir, "checkpoints")
    if not os.path.isdir(folder):
        return []
    return sorted(int(name) for name in os.listdir(folder) if name.isdigit())


def test_record(workdir: str):
    """The run's test record (the last record with test/* metrics) or None."""
    tests = [r for r in logs.read_metrics(os.path.join(workdir, "metrics.jsonl"))
             if any(k.startswith("test/") for k in r)]
    return tests[-1] if tests else None


def is_finished(workdir: str) -> bool:
    """True when the run has a test record at its last step and a checkpoint at that step."""
    records = logs.read_metrics(os.path.join(workdir, "metrics.jsonl"))
    record = test_record(workdir)
    if record is None or not records:
        return False
    last_step = max(int(r.get("step", 0)) for r in records)
    steps = checkpoint_steps(workdir)
    return int(record["step"]) == last_step and bool(steps) and steps[-1] == last_step


def _same_config(workdir: str, config) -> bool:
    path = os.path.join(workdir, "config.json")
    if not os.path.exists(path):
        return True
    with open(path) as f:
        saved = json.load(f)
    return saved == json.loads(json.dumps(config.to_dict()))


def train_time(workdir: str) -> float:
    """Seconds spent training: recorded by `train_or_reuse`, else the log's last `time`."""
    path = os.path.join(workdir, TRAIN_TIME_FILE)
    if os.path.exists(path):
        with open(path) as f:
            return float(json.load(f)["seconds"])
    times = [r["time"] for r in logs.read_metrics(os.path.join(workdir, "metrics.jsonl"))
             if "time" in r]
    return float(times[-1]) if times else float("nan")


def train_or_reuse(config, workdir: str, verbose: bool = True) -> dict:
    """Trains `config` into `workdir` unless a finished run of it is there.

    Returns {'status': 'trained' | 'reused', 'train_time': seconds,
    'test': the test record}. An unfinished run of the same config resumes.
    """
    if not _same_config(workdir, config):
        raise ValueError(
            f"{workdir} holds a run of a different config (see its config.json); delete it or "
            "choose another --workdir so runs are not mixed.")
    if is_finished(workdir):
        return {"status": "reused", "train_time": train_time(workdir), "test": test_record(workdir)}
    previous = 0.0
    path = os.path.join(workdir, TRAIN_TIME_FILE)
    if os.path.exists(path):  # an interrupted run resumes: add its earlier time
        previous = train_time(workdir)
    start = time.time()
    loop.run(config, workdir, verbose=verbose)
    seconds = previous + time.time() - start
    if not is_finished(workdir):
        raise loop.TrainingError(f"the run in {workdir} stopped before its test evaluation "
                           "(interrupted?); rerun the same command to resume it.")
    with open(path, "w") as f:
        json.dump({"seconds": seconds}, f)
    return {"status": "trained", "train_time": seconds, "test": test_record(workdir)}
