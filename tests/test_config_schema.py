"""The one config schema: every optim/train field settable from the command line, with its
default and comment printed by --show_config, and the optim fields reaching the optimizer."""
import subprocess

import jax.numpy as jnp
import numpy as np
import pytest
from cnnlab import cli
from cnnlab.train import config_check, defaults, optim
from train_helpers import TINY_CONFIG, script, script_env

# A value other than the default for every field of the closed sections.
NEW_VALUES = {
    "optim.name": "sgd", "optim.lr": 0.5, "optim.momentum": 0.8, "optim.nesterov": True,
    "optim.b1": 0.5, "optim.b2": 0.9, "optim.eps": 1e-8, "optim.rho": 0.5,
    "optim.weight_decay": 0.1, "optim.schedule": "step", "optim.decay": 0.5,
    "optim.decay_rate": 0.5, "optim.decay_steps": 2, "optim.warmup_steps": 5,
    "optim.clip_norm": 0.01, "optim.freeze": ("w",),
    "train.epochs": 3, "train.steps": 7, "train.batch_size": 8, "train.eval_batch_size": 4,
    "train.seed": 5, "train.parallel": "pmap", "train.dtype": "bfloat16", "train.log_every": 2,
    "train.eval_every": 3, "train.checkpoint_every": 4, "train.keep_checkpoints": 5,
    "train.best_metric": "val/loss", "train.best_mode": "min",
    "train.early_stopping.metric": "val/loss", "train.early_stopping.patience": 2,
    "train.early_stopping.mode": "min", "train.early_stopping.min_delta": 0.01,
    "train.curves": False, "train.phases": ({"epochs": 1, "lr": 0.1},),
}


def test_every_closed_field_is_in_the_schema_with_a_comment():
    closed = {p for p, _, _ in defaults.FIELDS if p.split(".")[0] in defaults.CLOSED_SECTIONS}
    assert closed == set(NEW_VALUES)  # a new field needs a test value here
    assert all(comment for _, _, comment in defaults.FIELDS)
    config = defaults.base_config()
    config_check.validate(config)
    for section in defaults.CLOSED_SECTIONS:
        assert set(config[section].keys()) == defaults.known_fields(section)


def _arg(path, value):
    if isinstance(value, tuple):
        return f"--config.{path}=(" + "".join(f"'{v}'," for v in value) + ")"
    return f"--config.{path}={value}"


def test_every_field_can_be_set_from_the_command_line():
    """All at once through scripts/train.py's own flags, read back from --show_config.
    (train.phases, a tuple of dicts, is set in config files.)"""
    settable = {p: v for p, v in NEW_VALUES.items() if not p.endswith("phases")}
    args = [_arg(p, v) for p, v in settable.items()]
    cli.check_config_args(["prog", f"--config={TINY_CONFIG}", *args])  # no "unknown field"
    out = subprocess.run(script("train.py") + [f"--config={TINY_CONFIG}", "--show_config", *args],
                         env=script_env(), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    shown = dict(line.split("  # ")[0].split(" = ", 1) for line in out.stdout.splitlines())
    for path, value in settable.items():
        assert shown[path] == repr(value), path


def test_unknown_fields_are_rejected_with_the_known_names(capsys):
    with pytest.raises(SystemExit):
        cli.check_config_args(["prog", f"--config={TINY_CONFIG}", "--config.optim.epsilon=1e-8"])
    assert "unknown config field `config.optim.epsilon`" in capsys.readouterr().err
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['epsilon'\] in config.optim"):
        optim.make_optimizer({"epsilon": 1e-8}, {"w": jnp.ones(2)}, 10)


def _update(cfg, step=0, grads=1.0, params=1.0, total=30):
    p = {"w": jnp.full((3,), params), "b": jnp.full((3,), params)}
    tx = optim.make_optimizer(cfg, p, total)
    state = tx.init(p)
    for t in range(step + 1):  # gradients that change sign and size, so moments matter
        g = {"w": jnp.full((3,), grads * (-2.0) ** t), "b": jnp.full((3,), grads * (-2.0) ** t)}
        updates, state = tx.update(g, state, p)
    return np.asarray(updates["w"])


@pytest.mark.parametrize("field,base", [
    ("lr", {"name": "adam"}), ("b1", {"name": "adam"}), ("b2", {"name": "adam"}),
    ("eps", {"name": "adam", "eps": 1.0}), ("rho", {"name": "rmsprop"}),
    ("momentum", {"name": "sgd"}), ("nesterov", {"name": "sgd", "momentum": 0.9}),
    ("weight_decay", {"name": "sgd"}), ("schedule", {"name": "sgd", "decay_steps": 2}),
    ("decay", {"name": "sgd", "schedule": "inverse_time"}),
    ("decay_rate", {"name": "sgd", "schedule": "step", "decay_steps": 2}),
    ("decay_steps", {"name": "sgd", "schedule": "step"}),
    ("warmup_steps", {"name": "sgd"}), ("clip_norm", {"name": "sgd"}),
    ("freeze", {"name": "sgd"}), ("name", {"name": "adam"}),
])
def test_every_optim_field_reaches_the_optimizer(field, base):
    """Setting the field changes the update of step 3 (eps=1e-8 included)."""
    changed = dict(base, **{field: NEW_VALUES[f"optim.{field}"]})
    if field == "eps":
        base, changed = dict(base, eps=1e-7), dict(base, eps=1.0)
    before, after = _update(base, step=3), _update(changed, step=3)
    assert not np.allclose(before, after), f"optim.{field} had no effect"


def test_show_config_prints_every_field_with_its_default_and_comment():
    out = subprocess.run(script("train.py") + [f"--config={TINY_CONFIG}", "--show_config",
                                               "--config.optim.eps=1e-8"],
                         env=script_env(), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert "optim.eps = 1e-08  # Adam/AdamW/RMSprop epsilon (Keras' 1e-7)" in lines
    assert "train.steps = None  # total steps; overrides epochs (None: epochs x steps per epoch)" in lines
    for path, _, _ in defaults.FIELDS:
        assert any(line.startswith(path + " = ") for line in lines), path
