"""The training recipe of config.train / config.optim: EMA, gradient accumulation, weight-decay
masks, and a run with every recipe feature on that resumes bit for bit."""
import json
import os
import shutil

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from cnnlab import tasks
from cnnlab.train import TrainingError, loop, optim
from cnnlab.train.state import TrainState, create_state
from cnnlab.train.step import StepOptions, ema_decay_at, make_train_step, update_ema
from train_helpers import tiny_config


def test_ema_follows_the_warmed_up_decay_of_params_and_batch_stats():
    state = TrainState(step=jnp.zeros((), jnp.int32), params={"w": jnp.zeros(3)},
                       batch_stats={"mean": jnp.ones(2)}, opt_state=(), rng=jax.random.PRNGKey(0),
                       tx=optax.sgd(1.0)).with_ema()
    ema_w, ema_m, decay = np.zeros(3), np.ones(2), 0.99
    for t in range(1, 6):  # the new weights w_t = t, the statistics 1 - t
        state = state.replace(step=jnp.int32(t), params={"w": jnp.full(3, float(t))},
                              batch_stats={"mean": jnp.full(2, 1.0 - t)})
        state = update_ema(state, decay, warmup=True)
        d = min(decay, (1 + t) / (10 + t))  # 0.1818, 0.25, 0.3077, ...
        ema_w, ema_m = d * ema_w + (1 - d) * t, d * ema_m + (1 - d) * (1 - t)
        np.testing.assert_allclose(state.ema_params["w"], ema_w, rtol=1e-6)
        np.testing.assert_allclose(state.ema_batch_stats["mean"], ema_m, rtol=1e-6)
    assert float(ema_decay_at(decay, 1000, True)) == pytest.approx(decay)
    assert float(ema_decay_at(decay, 1, False)) == pytest.approx(decay)
    np.testing.assert_allclose(state.params["w"], 5.0)  # the weights themselves untouched


class _Net(nn.Module):
    """Conv + dense without BatchNorm or dropout: the update is a function of the batch only."""

    @nn.compact
    def __call__(self, x, train=False):
        x = nn.relu(nn.Conv(4, (3, 3))(x))
        return nn.Dense(3)(x.mean((1, 2)))


def test_gradient_accumulation_gives_the_update_of_the_whole_batch():
    """k = 4 micro-batches of 4 and one batch of 16: the same SGD update (to float rounding)
    and the same metric sums. (With BatchNorm the statistics would be per micro-batch.)"""
    model, task = _Net(), tasks.create("classification", num_classes=3)
    rng = np.random.default_rng(0)
    batch = {"image": rng.random((16, 8, 8, 3), np.float32),
             "label": rng.integers(0, 3, 16).astype(np.int32)}
    state = create_state(model, lambda p: optax.sgd(0.5), np.zeros((1, 8, 8, 3), np.float32),
                         jax.random.PRNGKey(0))
    whole, sums1 = jax.jit(make_train_step(model, task))(state, batch)
    micro, sums4 = jax.jit(make_train_step(model, task, options=StepOptions(grad_accum_steps=4)))(
        state, batch)
    moved = max(float(jnp.abs(a - b).max()) for a, b in
                zip(jax.tree.leaves(whole.params), jax.tree.leaves(state.params)))
    assert moved > 1e-3  # the step changed the weights, so equality below means something
    for a, b in zip(jax.tree.leaves(whole.params), jax.tree.leaves(micro.params)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    for key in ("loss_sum", "accuracy_sum", "count", "grad_norm"):
        np.testing.assert_allclose(sums1[key], sums4[key], rtol=1e-5)


def test_weight_decay_spares_biases_and_norm_scales_by_default_or_any_regex():
    params = {"conv": {"kernel": jnp.ones((3, 3, 2, 4)), "bias": jnp.ones(4)},
              "bn": {"scale": jnp.ones(4), "bias": jnp.ones(4)},
              "head": {"kernel": jnp.ones((4, 3)), "bias": jnp.ones(3)}}
    auto = optim.decay_mask(params)
    assert auto == {"conv": {"kernel": True, "bias": False}, "bn": {"scale": False, "bias": False},
                    "head": {"kernel": True, "bias": False}}
    spare_head = optim.decay_mask(params, ("^head/",))
    assert spare_head["head"] == {"kernel": False, "bias": False} and spare_head["conv"]["bias"]
    with pytest.raises(ValueError, match="matches no parameter"):
        optim.decay_mask(params, ("nothing_here",))
    # AdamW with zero gradients: decayed leaves move by -lr * wd * p, spared ones stay.
    cfg = {"name": "adamw", "lr": 0.1, "weight_decay": 0.5}
    tx = optim.make_optimizer(cfg, params, 10)
    zeros = jax.tree.map(jnp.zeros_like, params)
    updates, _ = tx.update(zeros, tx.init(params), params)
    np.testing.assert_allclose(updates["conv"]["kernel"], -0.05)
    np.testing.assert_allclose(updates["conv"]["bias"], 0.0)
    np.testing.assert_allclose(updates["bn"]["scale"], 0.0)
    # SGD's L2 (added to the gradient) takes the same mask; decay_exclude=() decays everything.
    tx = optim.make_optimizer({"name": "sgd", "lr": 0.1, "weight_decay": 0.5, "decay_exclude": ()},
                              params, 10)
    updates, _ = tx.update(zeros, tx.init(params), params)
    np.testing.assert_allclose(updates["bn"]["scale"], -0.05)


def test_a_workdir_that_is_a_file_is_a_clear_error(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("mine")
    with pytest.raises(TrainingError, match="is a file, not a directory"):
        loop.run(tiny_config(), str(path), verbose=False)
    assert path.read_text() == "mine"


def _recipe(steps):
    config = tiny_config(steps=steps, log_every=3, eval_every=6, checkpoint_every=6,
                         ema_decay=0.9, grad_accum_steps=2, tensorboard=True)
    config.optim.name, config.optim.weight_decay = "adamw", 0.05
    config.data.augment = dict(horizontal_flip=True, rand_augment_ops=2, rand_augment_magnitude=9,
                               mixup_alpha=0.2, cutmix_alpha=1.0)
    return config


def _leaves(workdir):
    _, _, _, state, _ = loop.restore_for_inference(workdir)
    return [np.asarray(x) for x in jax.tree.leaves(
        (state.params, state.batch_stats, state.opt_state, state.ema_params, state.ema_batch_stats))]


def test_every_recipe_feature_at_once_logs_evaluates_the_ema_and_resumes_bit_for_bit(tmp_path, capsys):
    straight, resumed = str(tmp_path / "straight"), str(tmp_path / "resumed")
    result = loop.run(_recipe(12), straight, verbose=False)  # checkpoints at steps 6 and 12
    shutil.copytree(straight, resumed)
    shutil.rmtree(os.path.join(resumed, "checkpoints", "12"))  # as if killed after step 6's save
    capsys.readouterr()
    loop.run(_recipe(12), resumed, verbose=True)  # resumes from 6 and trains 7..12 again
    assert "resuming from step 6" in capsys.readouterr().err
    for a, b in zip(_leaves(straight), _leaves(resumed)):
        np.testing.assert_array_equal(a, b)

    records = [json.loads(line) for line in open(os.path.join(straight, "metrics.jsonl"))]
    last_train = [r for r in records if "train/loss" in r][-1]
    for key in ("train/lr", "train/grad_norm", "train/param_norm", "train/update_norm",
                "train/images_per_s", "train/step_time_s"):
        assert np.isfinite(last_train[key]) and last_train[key] > 0, key
    assert last_train["train/lr"] == pytest.approx(3e-3)
    assert 0.0 <= result["val_ema/accuracy"] <= 1.0 and "test_ema/loss" in result
    # the EMA weights are not the weights, and scripts/evaluate.py --ema scores them
    _, _, _, state, _ = loop.restore_for_inference(straight)
    assert not np.allclose(jax.tree.leaves(state.params)[0], jax.tree.leaves(state.ema_params)[0])
    ema = loop.evaluate(straight, split="test", ema=True)
    np.testing.assert_allclose(ema["test/loss"], result["test_ema/loss"], rtol=1e-5)
    # TensorBoard's own reader sees the run
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(os.path.join(straight, "tensorboard"))
    acc.Reload()
    tags = acc.Tags()["scalars"]
    assert {"train/loss", "train/lr", "val/accuracy", "val_ema/accuracy"} <= set(tags)
    assert [e.step for e in acc.Scalars("val/accuracy")] == [6, 12]
    np.testing.assert_allclose(acc.Scalars("train/loss")[-1].value, last_train["train/loss"],
                               rtol=1e-6)
