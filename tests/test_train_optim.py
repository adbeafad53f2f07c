"""Optimizers, schedules and freezing built from config.optim."""
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from cnnlab.train import optim
from cnnlab.train.defaults import base_config


def _cfg(**kw):
    c = base_config().optim
    c.update(kw)
    return c


def test_inverse_time_schedule_matches_keras_decay_formula():
    sched = optim.make_schedule(_cfg(lr=0.2, schedule="inverse_time", decay=0.01), 100)
    for step in (0, 1, 10, 500):
        np.testing.assert_allclose(float(sched(step)), 0.2 / (1 + 0.01 * step), rtol=1e-6)


def test_step_schedule_and_warmup():
    sched = optim.make_schedule(_cfg(lr=1.0, schedule="step", decay_rate=0.5, decay_steps=10), 100)
    assert [float(sched(s)) for s in (0, 9, 10, 25)] == [1.0, 1.0, 0.5, 0.25]
    warm = optim.make_schedule(_cfg(lr=1.0, warmup_steps=4), 100)
    np.testing.assert_allclose([float(warm(s)) for s in (0, 2, 4, 50)], [0.0, 0.5, 1.0, 1.0])
    cos = optim.make_schedule(_cfg(lr=1.0, schedule="cosine"), 100)
    np.testing.assert_allclose([float(cos(0)), float(cos(50)), float(cos(100))], [1.0, 0.5, 0.0], atol=1e-6)


def test_sgd_momentum_matches_hand_computation():
    params = {"w": jnp.array([1.0, -2.0])}
    grads = {"w": jnp.array([0.5, 0.25])}
    tx = optim.make_optimizer(_cfg(name="sgd", lr=0.1, momentum=0.9), params, 10)
    state = tx.init(params)
    u1, state = tx.update(grads, state, params)
    u2, state = tx.update(grads, state, params)
    np.testing.assert_allclose(u1["w"], [-0.05, -0.025], rtol=1e-6)
    np.testing.assert_allclose(u2["w"], [-0.05 * 1.9, -0.025 * 1.9], rtol=1e-6)


def test_freeze_by_regex_gives_exactly_zero_updates():
    params = {"block1_conv1": {"kernel": jnp.ones((3,))}, "block5_conv1": {"kernel": jnp.ones((3,))},
              "head": {"kernel": jnp.ones((2,))}}
    grads = jax.tree.map(lambda p: jnp.full_like(p, 0.3), params)
    tx = optim.make_optimizer(_cfg(name="adam", lr=0.1, freeze=("block[1-4]_.*",)), params, 10)
    updates, _ = tx.update(grads, tx.init(params), params)
    assert float(jnp.abs(updates["block1_conv1"]["kernel"]).max()) == 0.0
    assert float(jnp.abs(updates["block5_conv1"]["kernel"]).min()) > 0.0
    assert float(jnp.abs(updates["head"]["kernel"]).min()) > 0.0


def test_freeze_pattern_that_matches_nothing_is_an_error():
    params = {"dense": {"kernel": jnp.ones((2,))}}
    with pytest.raises(ValueError, match="matches no parameter.*dense"):
        optim.make_optimizer(_cfg(freeze=("backbone/.*",)), params, 10)


def test_unknown_optimizer_and_schedule_names():
    params = {"w": jnp.ones(2)}
    with pytest.raises(ValueError, match="config.optim.name='adagradx'"):
        optim.make_optimizer(_cfg(name="adagradx"), params, 10)
    with pytest.raises(ValueError, match="config.optim.schedule='linear'"):
        optim.make_optimizer(_cfg(schedule="linear"), params, 10)


def test_clip_norm_limits_the_update():
    params = {"w": jnp.zeros(4)}
    tx = optim.make_optimizer(_cfg(name="sgd", lr=1.0, momentum=0.0, clip_norm=1.0), params, 10)
    updates, _ = tx.update({"w": jnp.full(4, 10.0)}, tx.init(params), params)
    np.testing.assert_allclose(float(optax.global_norm(updates)), 1.0, rtol=1e-5)


def test_rmsprop_matches_keras_formula():
    params = {"w": jnp.array([0.0, 0.0])}
    g = jnp.array([0.5, 1e-6])
    tx = optim.make_optimizer(_cfg(name="rmsprop", lr=0.01), params, 10)
    state = tx.init(params)
    v = np.zeros(2)
    for _ in range(3):
        u, state = tx.update({"w": g}, state, params)
        v = 0.9 * v + 0.1 * np.asarray(g) ** 2
        np.testing.assert_allclose(u["w"], -0.01 * np.asarray(g) / (np.sqrt(v) + 1e-7), rtol=1e-5)
