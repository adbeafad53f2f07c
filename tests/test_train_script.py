"""scripts/train.py and scripts/evaluate.py: flag errors are one clear line, no traceback."""
import subprocess

from train_helpers import REPO, TINY_CONFIG, script, script_env


def _run(args):
    return subprocess.run(args, capture_output=True, text=True, env=script_env(), timeout=120, cwd=REPO)


def test_unknown_config_field_is_named_with_the_valid_ones(tmp_path):
    r = _run(script("train.py") + [f"--config={TINY_CONFIG}", f"--workdir={tmp_path}",
                                    "--config.train.epochz=3"])
    assert r.returncode == 2
    assert "unknown config field `config.train.epochz`" in r.stderr
    assert "epochs" in r.stderr and "Traceback" not in r.stderr


def test_bad_value_missing_file_and_missing_flag(tmp_path):
    r = _run(script("train.py") + [f"--config={TINY_CONFIG}", f"--workdir={tmp_path}",
                                    "--config.optim.lr=fast"])
    assert r.returncode == 2 and "could not convert string to float: 'fast'" in r.stderr
    r = _run(script("train.py") + ["--config=configs/nope.py", f"--workdir={tmp_path}"])
    assert r.returncode == 2 and "config file 'configs/nope.py' does not exist" in r.stderr
    assert "shapes_cnn.py" in r.stderr
    r = _run(script("train.py") + [f"--config={TINY_CONFIG}"])
    assert r.returncode == 2 and "--workdir" in r.stderr and "Traceback" not in r.stderr
    r = _run(script("train.py") + [f"--config={TINY_CONFIG}", f"--workdir={tmp_path}", "--bogus"])
    assert r.returncode == 2 and "bogus" in r.stderr


def test_bad_config_value_and_evaluate_on_a_non_run(tmp_path):
    r = _run(script("train.py") + [f"--config={TINY_CONFIG}", f"--workdir={tmp_path}",
                                    "--config.optim.name=adagradx"])
    assert r.returncode == 1 and "config.optim.name='adagradx' is not known" in r.stderr
    assert "Traceback" not in r.stderr
    r = _run(script("evaluate.py") + [f"--workdir={tmp_path / 'empty'}"])
    assert r.returncode == 1 and "is not a cnnlab run directory" in r.stderr
