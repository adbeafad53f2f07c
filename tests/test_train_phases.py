"""Freeze-then-finetune: phases with their own rates and freezing, in one optimizer state."""
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnlab.train import loop, optim
from cnnlab.train.defaults import base_config
from cnnlab.train.state import create_state
from train_helpers import tiny_config

PHASES = [
    {"steps": 3, "lr": 0.2, "schedule": "inverse_time", "decay": 0.01, "freeze": ("backbone/.*",)},
    {"steps": 3, "lr": 0.01, "schedule": "inverse_time", "decay": 0.001, "freeze": ()},
]


def test_phased_sgd_matches_hand_computation():
    cfg = base_config().optim
    cfg.name, cfg.momentum = "sgd", 0.9
    params = {"backbone": {"w": jnp.zeros(1)}, "head": {"w": jnp.zeros(1)}}
    grads = {"backbone": {"w": jnp.ones(1)}, "head": {"w": jnp.ones(1)}}
    tx = optim.make_phased_optimizer(cfg, PHASES, params, steps_per_epoch=1)
    state = tx.init(params)
    got = []
    for _ in range(6):
        u, state = tx.update(grads, state, params)
        got.append((float(u["backbone"]["w"][0]), float(u["head"]["w"][0])))
    # Reference: optax SGD momentum = trace m_t = g + 0.9 m_{t-1}, update = -lr_t * m_t.
    m_head, m_bb, expected = 0.0, 0.0, []
    for t in range(6):
        lr = 0.2 / (1 + 0.01 * t) if t < 3 else 0.01 / (1 + 0.001 * (t - 3))
        m_head = 1.0 + 0.9 * m_head  # the head's momentum carries across the boundary
        if t >= 3:
            m_bb = 1.0 + 0.9 * m_bb  # the backbone's starts at zero when it unfreezes
        expected.append((-lr * m_bb if t >= 3 else 0.0, -lr * m_head))
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert got[0][0] == 0.0 and got[2][0] == 0.0  # frozen updates are exactly zero


def test_phase_errors():
    cfg = base_config().optim
    params = {"head": {"w": jnp.zeros(1)}}
    with pytest.raises(ValueError, match=r"phases\[0\] has unknown field\(s\) \['lr_rate'\]"):
        optim.make_phased_optimizer(cfg, [{"steps": 1, "lr_rate": 0.1}], params, 1)
    with pytest.raises(ValueError, match="matches no parameter"):
        optim.make_phased_optimizer(cfg, [{"steps": 1, "freeze": ("backbone/.*",)}], params, 1)


def _transfer_config(tmp_steps=(6, 6)):
    c = tiny_config()
    del c.model["widths"]
    c.model.name = "transfer"
    c.model.base = "simple_cnn"
    c.model.base_kwargs = {"widths": (4, 8)}
    c.model.head = "flatten"
    c.init_weights = "random"
    c.optim.name, c.optim.momentum = "sgd", 0.9
    c.train.phases = (
        {"steps": tmp_steps[0], "lr": 0.05, "freeze": ("backbone/.*",)},
        {"steps": tmp_steps[1], "lr": 0.01, "freeze": ("backbone/stage1_.*",)},
    )
    c.train.checkpoint_every = 3
    c.train.keep_checkpoints = 10
    return c


def test_two_phase_run_freezes_then_finetunes_and_resumes_across_the_boundary(tmp_path):
    config = _transfer_config()
    full = tmp_path / "full"
    result = loop.run(config, str(full), verbose=False)
    assert result["step"] == 12
    # Fresh initial weights of the same seed, as the loop makes them.
    train = loop._split_data(config, "train", 16, True, 0)
    model, _ = loop.build_model_and_task(config, train.info)
    _, tx_fn, _ = loop.optimizer_fn(config, train.steps_per_epoch)
    init = create_state(model, tx_fn, np.zeros((1, 16, 16, 3), np.float32), jax.random.PRNGKey(0))
    from cnnlab.train.checkpoint import Checkpointer
    ckpt = Checkpointer(str(full))
    at_boundary, _ = ckpt.restore(init, step=6)
    final, _ = ckpt.restore(init, step=12)
    ckpt.close()
    same = jax.tree.map(lambda a, b: bool(jnp.array_equal(a, b)), init.params["backbone"],
                        at_boundary.params["backbone"])
    assert all(jax.tree.leaves(same)), "phase 1 must not change the frozen backbone"
    assert not jnp.array_equal(init.params["predictions"]["kernel"],
                               at_boundary.params["predictions"]["kernel"])
    # Phase 2 trains stage2 but keeps stage1 frozen.
    assert jnp.array_equal(init.params["backbone"]["stage1_conv1"]["kernel"],
                           final.params["backbone"]["stage1_conv1"]["kernel"])
    assert not jnp.array_equal(init.params["backbone"]["stage2_conv1"]["kernel"],
                               final.params["backbone"]["stage2_conv1"]["kernel"])
    # A run stopped at the phase boundary resumes to the same final parameters.
    resumed = tmp_path / "resumed"
    (resumed / "checkpoints").mkdir(parents=True)
    shutil.copytree(full / "checkpoints" / "6", resumed / "checkpoints" / "6")
    loop.run(config, str(resumed), verbose=False)
    ckpt = Checkpointer(str(resumed))
    again, _ = ckpt.restore(init, step=12)
    ckpt.close()
    for a, b in zip(jax.tree.leaves(final.params), jax.tree.leaves(again.params)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_transfer_config_without_init_weights_fails_clearly(tmp_path):
    config = _transfer_config()
    config.init_weights = ""
    with pytest.raises(loop.TrainingError, match="init_weights=random"):
        loop.run(config, str(tmp_path), verbose=False)
