"""jit-on-a-mesh and pmap on 8 simulated devices train like one device."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.xdist_group("test_train_parallel")  # one worker builds the module fixtures once

HERE = os.path.dirname(__file__)


@pytest.fixture(scope="module")
def trajectories():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8")
    out = subprocess.run([sys.executable, os.path.join(HERE, "multidevice_check.py")],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout)


def test_eight_devices_are_used(trajectories):
    assert trajectories["num_devices"] == 8


def test_jit_mesh_and_pmap_match_one_device(trajectories):
    one = np.array(trajectories["one"]["losses"])
    assert one[-1] < one[0]  # it learns
    assert trajectories["pmap8"]["replicas_equal"]
    for mode in ("jit8", "pmap8"):
        np.testing.assert_allclose(trajectories[mode]["losses"], one, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(trajectories[mode]["param_sum"], trajectories["one"]["param_sum"],
                                   rtol=1e-5)


def test_accumulation_and_ema_train_alike_on_one_device_jit_and_pmap(trajectories):
    """Two micro-batches give the update of the whole batch (no BatchNorm here), on every
    device layout, and the EMA follows the same weights."""
    one = trajectories["one"]
    for mode in ("recipe_one", "recipe_jit8", "recipe_pmap8"):
        run = trajectories[mode]
        np.testing.assert_allclose(run["losses"], one["losses"], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(run["param_sum"], one["param_sum"], rtol=1e-5)
        np.testing.assert_allclose(run["ema_sum"], trajectories["recipe_one"]["ema_sum"], rtol=1e-5)
    assert trajectories["recipe_pmap8"]["replicas_equal"]
    assert abs(trajectories["recipe_one"]["ema_sum"] - one["param_sum"]) > 1e-3  # EMA lags


def test_batchnorm_jit_is_global_and_pmap_averages_statistics(trajectories):
    # jit sees the global batch: BatchNorm statistics are those of one device.
    np.testing.assert_allclose(trajectories["bn_jit8"]["losses"], trajectories["bn_one"]["losses"],
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(trajectories["bn_jit8"]["stats_sum"], trajectories["bn_one"]["stats_sum"],
                               rtol=1e-5)
    # pmap normalises with per-device batch statistics (2 examples each, as
    # flax's ImageNet example does) and pmean-s the running statistics, so every
    # replica holds the same state; the trajectory is close but not identical.
    pmap = trajectories["bn_pmap8"]
    assert pmap["replicas_equal"]
    assert pmap["losses"][-1] < pmap["losses"][0]
    np.testing.assert_allclose(pmap["losses"], trajectories["bn_one"]["losses"], rtol=0.1)
