"""Checks an experiment config before anything expensive starts.

Typos in field names fail here with the list of known fields, instead of
being silently ignored deep inside the run.
"""
import ml_collections

from cnnlab.train import defaults

SECTIONS = {
    "model": {"name"},
    "data": {"name"},
    "task": {"name"},
    "optim": {"name", "lr"},
    "train": {"batch_size", "seed"},
}
DTYPES = ("float32", "bfloat16", "float16")


class ConfigError(ValueError):
    """The experiment config is malformed; the message names the field and the fix."""


def validate(config: ml_collections.ConfigDict) -> None:
    for section, required in SECTIONS.items():
        if section not in config:
            raise ConfigError(f"the config has no `{section}` section; add config.{section} "
                              f"(see configs/shapes_cnn.py for a complete example).")
        missing = [f for f in sorted(required) if f not in config[section]]
        if missing:
            raise ConfigError(f"config.{section} lacks {missing}.")
    for section in defaults.CLOSED_SECTIONS:
        known = defaults.known_fields(section)
        unknown = sorted(set(config[section].keys()) - known)
        if unknown:
            raise ConfigError(f"unknown field(s) {unknown} in config.{section}; "
                              f"known fields are {sorted(known)}.")
    tc = config.train
    if not (tc.get("steps", None) or tc.get("epochs", 0)):
        raise ConfigError("set config.train.epochs or config.train.steps to a positive number.")
    if int(tc.batch_size) < 1:
        raise ConfigError(f"config.train.batch_size={tc.batch_size} must be positive.")
    if tc.get("dtype", "float32") not in DTYPES:
        raise ConfigError(f"config.train.dtype={tc.dtype!r}; use one of {DTYPES}.")
    if float(config.optim.lr) <= 0:
        raise ConfigError(f"config.optim.lr={config.optim.lr} must be positive.")
