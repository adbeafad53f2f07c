"""The base experiment config every file in `configs/` starts from: the one schema.

`FIELDS` lists every field of the `optim` and `train` sections with its
default and a one-line comment; `base_config()` is built from it, the
validation in `config_check` takes the known names from it, and
`describe(config)` (`scripts/train.py --show_config`) prints it. `None`
means "automatic" (the comment says what that is). The `model`, `data` and
`task` sections hold the common fields below; the rest of their fields are
the keyword arguments of the model, data source or task they name.
"""
import ml_collections
from ml_collections import config_dict


class _auto:
    """Marks a field that is None ("automatic") until set to a `kind`. base_config() makes a
    fresh placeholder for each config: one shared FieldReference would tie every config's
    value together."""

    def __init__(self, kind):
        self.kind = kind


# (path, default, comment). A default of _auto(type) is None, settable to that type.
FIELDS = (
    ("model.name", "mnist_cnn", "registry name of the network (cnnlab.models.names())"),
    ("data.name", "shapes", "data source: shapes, a TFDS name, image_folder, npz, ..."),
    ("data.train_split", "train", "split to train on"),
    ("data.eval_split", "validation", "split evaluated during training ('' for none)"),
    ("data.test_split", "test", "split evaluated once at the end ('' for none)"),
    ("task.name", "classification", "what the model's outputs mean (cnnlab.tasks.names())"),
    ("task.label_smoothing", 0.0, "classification: weight of the uniform target mixed in"),

    ("optim.name", "adam", "sgd | adam | adamw | rmsprop"),
    ("optim.lr", 1e-3, "base learning rate"),
    ("optim.momentum", 0.0, "SGD and RMSprop momentum (Keras' default 0; SGD configs set 0.9)"),
    ("optim.nesterov", False, "SGD: Nesterov momentum"),
    ("optim.b1", 0.9, "Adam/AdamW: first-moment decay"),
    ("optim.b2", 0.999, "Adam/AdamW: second-moment decay"),
    ("optim.eps", 1e-7, "Adam/AdamW/RMSprop epsilon (Keras' 1e-7)"),
    ("optim.rho", 0.9, "RMSprop: decay of the squared-gradient average"),
    ("optim.weight_decay", 0.0, "decoupled for adamw, L2 added to the gradient otherwise"),
    ("optim.schedule", "constant", "constant | step | exponential | inverse_time | cosine"),
    ("optim.decay", 0.0, "inverse_time: lr / (1 + decay * step), Keras' legacy decay"),
    ("optim.decay_rate", 0.1, "step/exponential: factor per decay_steps"),
    ("optim.decay_steps", _auto(int), "step/exponential: steps per decay (None: a third of the run)"),
    ("optim.warmup_steps", 0, "linear warm-up from 0 before the schedule"),
    ("optim.clip_norm", 0.0, "clip gradients to this global norm (0: off)"),
    ("optim.freeze", (), "regexes of parameter paths that get zero updates"),
    ("optim.decay_exclude", _auto(tuple),
     "regexes of parameter paths spared weight decay (None: biases and norm scales, all 1-D)"),

    ("train.epochs", 1, "passes over the training split"),
    ("train.steps", _auto(int), "total steps; overrides epochs (None: epochs x steps per epoch)"),
    ("train.batch_size", 64, "global batch over all devices and processes"),
    ("train.eval_batch_size", _auto(int), "evaluation batch (None: batch_size)"),
    ("train.seed", 0, "seed of initialisation, data order, dropout and augmentation"),
    ("train.parallel", "jit", "jit (a mesh over all devices) | pmap"),
    ("train.dtype", "float32", "compute dtype: float32 | bfloat16 | float16 (params stay float32)"),
    ("train.log_every", _auto(int), "steps between log records (None: min(steps per epoch, 100))"),
    ("train.eval_every", _auto(int), "steps between evaluations (None: once per epoch)"),
    ("train.checkpoint_every", _auto(int), "steps between checkpoints (None: once per epoch)"),
    ("train.keep_checkpoints", 2, "latest checkpoints kept for resuming"),
    ("train.best_metric", "val/accuracy", "metric that picks the checkpoint kept in best/"),
    ("train.best_mode", "max", "max | min: whether a larger best_metric is better"),
    ("train.early_stopping.metric", "val/accuracy", "early stopping watches this metric"),
    ("train.early_stopping.patience", 0, "evaluations without improvement before stopping (0: off)"),
    ("train.early_stopping.mode", "max", "max | min"),
    ("train.early_stopping.min_delta", 0.0, "smallest change that counts as an improvement"),
    ("train.grad_accum_steps", 1, "micro-batches per update (batch_size / k each; same update)"),
    ("train.ema_decay", 0.0, "EMA of params and BatchNorm statistics, evaluated as val_ema/ (0: off)"),
    ("train.ema_warmup", True, "EMA decay min(d, (1 + t) / (10 + t)) at update t"),
    ("train.curves", True, "draw curves.png at the end"),
    ("train.tensorboard", False, "also write TensorBoard event files into <workdir>/tensorboard"),
    ("train.profile", 0, "steps to trace with jax.profiler into <workdir>/profile (0: off)"),
    ("train.profile_start", 3, "first traced step (after the first steps' compilation)"),
    ("train.phases", (), "freeze-then-finetune phases: dicts of epochs/steps, lr, freeze"),
)

# Sections whose every field is in FIELDS: an unknown name there is a typo.
CLOSED_SECTIONS = ("optim", "train")
# Fields of the open sections the loop itself reads, filled in when a config omits them.
OPEN_DEFAULTS = {"model": (), "data": ("train_split", "eval_split", "test_split"), "task": ()}


def base_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    for path, default, _ in FIELDS:
        node = c
        *parents, leaf = path.split(".")
        for name in parents:
            if name not in node:
                node[name] = ml_collections.ConfigDict()
            node = node[name]
        node[leaf] = config_dict.placeholder(default.kind) if isinstance(default, _auto) else default
    return c


def field_comments() -> dict:
    """{'optim.lr': 'base learning rate', ...} for every field of FIELDS."""
    return {path: comment for path, _, comment in FIELDS}


def known_fields(section: str) -> set:
    """The top-level field names of a closed section (`optim`, `train`)."""
    return {path.split(".")[1] for path, _, _ in FIELDS if path.split(".")[0] == section}


def _leaves(node, prefix=""):
    for key in sorted(node.keys()):
        value = node[key]
        path = f"{prefix}{key}"
        if isinstance(value, ml_collections.ConfigDict):
            yield from _leaves(value, path + ".")
        else:
            yield path, value


# Options of the named model the loop sets itself (from config.train.dtype).
_LOOP_SET = {"model": ("dtype",), "task": ("keys",)}


def options(section: str, name) -> dict:
    """{option: default} of the model (`section='model'`) or task named `name`: the fields
    config.model / config.task may hold beside `name`. {} for an unknown name."""
    try:
        if section == "model":
            from cnnlab.models import registry
            found = registry.option_defaults(name)
        else:
            import dataclasses
            from cnnlab.tasks import base
            cls = base._REGISTRY[name]
            found = {f.name: (None if f.default is dataclasses.MISSING else f.default)
                     for f in dataclasses.fields(cls) if f.init}
    except (KeyError, ValueError, TypeError):
        return {}
    found = {k: v for k, v in found.items() if k not in _LOOP_SET[section]}
    if "num_classes" in found:
        found["num_classes"] = None  # automatic: the dataset's number of classes
    return found


def augment_fields() -> set:
    """Every field name config.data.augment may hold: the images-only augmentation's, and the
    joint ones of box and mask targets (detection, localization, segmentation)."""
    from cnnlab.data import augment, box_augment, mask_augment
    return ({name for name, _, _ in augment.FIELDS} | set(box_augment.FIELDS)
            | set(mask_augment.AUGMENT_FIELDS))


def addable(config, key: str) -> bool:
    """Whether the dotted `key`, absent from `config`, is a field it may gain: an option of the
    model or task the config names, or a data.augment field."""
    parts = key.split(".")
    if len(parts) == 2 and parts[0] in ("model", "task") and parts[0] in config:
        return parts[1] in options(parts[0], config[parts[0]].get("name"))
    if len(parts) == 3 and parts[:2] == ["data", "augment"]:
        return parts[2] in augment_fields()
    if len(parts) == 2 and parts[0] == "data" and "data" in config:
        return parts[1] in data_options(config.data.get("name"))
    return False


def _data_table(name) -> tuple:
    """(field, default, comment) rows of the data source `name` but `augment` (checked by its
    own table); () for an unknown source."""
    from cnnlab.data import fields
    try:
        return tuple(row for row in fields.fields_of(name) if row[0] != "augment")
    except ValueError:
        return ()


def data_options(name) -> dict:
    """{field: default} of the data source `name` (cnnlab.data.fields); {} if unknown."""
    return {field: default for field, default, _ in _data_table(name)}


def describe(config: ml_collections.ConfigDict) -> str:
    """Every leaf of `config` with its value and, where the schema has one, its comment; then
    the options of the named model and task the config leaves at their defaults."""
    from cnnlab.data import augment
    comments = field_comments()
    comments.update({f"data.augment.{n}": c for n, _, c in augment.FIELDS})
    if "data" in config:
        comments.update({f"data.{n}": c for n, _, c in _data_table(config.data.get("name"))
                         if f"data.{n}" not in comments})
    lines = []
    for path, value in _leaves(config):
        note = comments.get(path, "")
        lines.append(f"{path} = {value!r}" + (f"  # {note}" if note else ""))
    for section in ("model", "task"):
        name = config[section].get("name") if section in config else None
        for key, value in sorted(options(section, name).items()):
            if key not in config[section]:
                lines.append(f"{section}.{key} = {value!r}  # option of {section} {name!r}, "
                             f"default (set with --config.{section}.{key}=...)")
    if "data" in config:
        name = config.data.get("name")
        for key, value, comment in _data_table(name):
            if key not in config.data:
                lines.append(f"data.{key} = {value!r}  # {comment} (field of data source {name!r}, "
                             f"default)")
    return "\n".join(lines)


def complete(config) -> ml_collections.ConfigDict:
    """`base_config()` with every field `config` sets: a config (or a run's config.json)
    that omits fields gets their defaults, so the library reads `config.x.y` directly."""
    values = config.to_dict() if hasattr(config, "to_dict") else dict(config)
    base = base_config()
    for section in ("model", "data", "task"):  # open sections: the config's own fields only,
        if section in values:                  # (task.label_smoothing means nothing to detection)
            given = dict(values.pop(section))
            keep = {k: v for k, v in base[section].items() if k in OPEN_DEFAULTS[section]}
            base[section] = ml_collections.ConfigDict({**keep, **given})
    _merge(base, values)
    return base


def _merge(node: ml_collections.ConfigDict, values: dict) -> None:
    for key, value in values.items():
        current = node.get(key)
        if isinstance(value, dict) and isinstance(current, ml_collections.ConfigDict):
            _merge(current, value)
        elif isinstance(value, dict):
            node[key] = ml_collections.ConfigDict(value)
        else:
            if isinstance(current, tuple) and isinstance(value, list):  # JSON has no tuples
                value = tuple(value)
            node[key] = value
