"""The one config schema: every optim/train field settable from the command line, with its
default and comment printed by --show_config, and the optim fields reaching the optimizer."""
import os
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
    "optim.clip_norm": 0.01, "optim.freeze": ("w",), "optim.decay_exclude": ("w",),
    "train.epochs": 3, "train.steps": 7, "train.batch_size": 8, "train.eval_batch_size": 4,
    "train.seed": 5, "train.parallel": "pmap", "train.dtype": "bfloat16", "train.log_every": 2,
    "train.eval_every": 3, "train.checkpoint_every": 4, "train.keep_checkpoints": 5,
    "train.best_metric": "val/loss", "train.best_mode": "min",
    "train.early_stopping.metric": "val/loss", "train.early_stopping.patience": 2,
    "train.early_stopping.mode": "min", "train.early_stopping.min_delta": 0.01,
    "train.curves": False, "train.phases": ({"epochs": 1, "lr": 0.1},),
    "train.grad_accum_steps": 2, "train.ema_decay": 0.99, "train.ema_warmup": False,
    "train.tensorboard": True, "train.profile": 2, "train.profile_start": 4,
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
    # fields of the open sections the config file leaves out: an option of its model
    # (simple_cnn) and task, and a field of its data source (shapes)
    settable.update({"model.dropout": 0.25, "task.top_k": 2, "data.data_seed": 4})
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
    with pytest.raises(SystemExit):
        cli.check_config_args(["prog", f"--config={TINY_CONFIG}", "--config.model.drop_rate=0.1"])
    err = capsys.readouterr().err
    assert "model 'simple_cnn' has no option 'drop_rate'" in err and "dropout" in err
    with pytest.raises(SystemExit):  # the options of the model the command names
        cli.check_config_args(["prog", f"--config={TINY_CONFIG}", "--config.model.name=resnet18",
                               "--config.model.dropout=0.1"])
    assert "model 'resnet18' has no option 'dropout'" in capsys.readouterr().err
    cli.check_config_args(["prog", f"--config={TINY_CONFIG}", "--config.model.name=resnet18",
                           "--config.model.drop_path_rate=0.1"])
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['epsilon'\] in config.optim"):
        optim.make_optimizer({"epsilon": 1e-8}, {"w": jnp.ones(2)}, 10)


def _update(cfg, step=0, grads=1.0, params=1.0, total=30):
    p = {"w": jnp.full((3, 3), params), "b": jnp.full((3,), params)}  # a kernel and a bias
    tx = optim.make_optimizer(cfg, p, total)
    state = tx.init(p)
    for t in range(step + 1):  # gradients that change sign and size, so moments matter
        g = {"w": jnp.full((3, 3), grads * (-2.0) ** t), "b": jnp.full((3,), grads * (-2.0) ** t)}
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
    ("decay_exclude", {"name": "sgd", "weight_decay": 0.1}),
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


def test_every_train_field_reaches_the_run(tmp_path, monkeypatch):
    """One tiny run with every train field (but epochs, which steps overrides, and phases, see
    test_train_phases) away from its default; each one's effect is checked where it lands."""
    import jax
    from cnnlab.train import loop, parallel
    from train_helpers import tiny_config

    seen = {"splits": []}
    create, split_data, create_state = parallel.create, loop._split_data, loop.create_state

    def spy_create(mode, model, task, augment=None, input_fn=None, options=None):
        seen.update(mode=mode, options=options, dtype=model.dtype)
        return create(mode, model, task, augment, input_fn, options)

    def spy_split(config, split, batch_size, train, seed):
        seen["splits"].append((split, batch_size, seed))
        return split_data(config, split, batch_size, train, seed)

    def spy_state(model, tx_fn, sample, rng, ema=False):
        seen.update(rng=np.asarray(jax.random.key_data(rng)), ema=ema)
        return create_state(model, tx_fn, sample, rng, ema=ema)

    monkeypatch.setattr(loop.parallel, "create", spy_create)
    monkeypatch.setattr(loop, "_split_data", spy_split)
    monkeypatch.setattr(loop, "create_state", spy_state)
    values = {k.split(".", 1)[1]: v for k, v in NEW_VALUES.items()
              if k.startswith("train.") and not k.startswith("train.early_stopping")
              and k not in ("train.phases", "train.epochs")}
    values.update(checkpoint_every=2, early_stopping=dict(
        metric="val/loss", patience=2, mode="min", min_delta=10.0))  # nothing counts as better
    config = tiny_config()
    config.train.update(values)
    result = loop.run(config, str(tmp_path), verbose=False)

    assert seen["mode"] == "pmap" and np.dtype(seen["dtype"]) == np.dtype(jnp.bfloat16)
    assert seen["options"].grad_accum_steps == 2 and seen["options"].ema_decay == 0.99
    assert seen["options"].ema_warmup is False and seen["ema"] is True
    assert ("train", 8, 5) in seen["splits"] and ("validation", 4, 5) in seen["splits"]
    np.testing.assert_array_equal(seen["rng"], jax.random.key_data(jax.random.PRNGKey(5)))
    # evaluations at 3 and 6, early stop (patience 2) at the 7th and last step
    assert result["step"] == 7 and result["status"] == "early_stopped"
    records = loop.MetricsLog(str(tmp_path / "metrics.jsonl")).read()
    assert [r["step"] for r in records if "train/loss" in r] == [2, 3, 4, 6, 7]  # log_every=2
    evals = {r["step"]: r["val/loss"] for r in records if "val/loss" in r}
    assert sorted(evals) == [3, 6, 7] and all("val_ema/loss" in r for r in records if "val/loss" in r)
    assert records[0]["epoch"] == pytest.approx(2 / 12)  # 96 examples in batches of 8
    ckpts = sorted(int(s) for s in os.listdir(tmp_path / "checkpoints") if s.isdigit())
    assert ckpts == [2, 4, 6, 7]  # keep_checkpoints=5 keeps them all
    best = [int(s) for s in os.listdir(tmp_path / "best") if s.isdigit()]
    assert best == [min(evals, key=evals.get)]  # best_metric=val/loss, best_mode=min
    assert not (tmp_path / "curves.png").exists()  # curves=False
    assert any(f.startswith("events.out.tfevents") for f in os.listdir(tmp_path / "tensorboard"))
    assert (tmp_path / "profile").is_dir()  # profile=2 from profile_start=4
