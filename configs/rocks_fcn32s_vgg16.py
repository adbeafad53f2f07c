"""FCN-32s on the real SEM rock set: ``rocks_fcn8s_vgg16`` with the single-stream x32 head.

Same data, backbone, optimiser and steps as ``configs/rocks_fcn8s_vgg16.py``,
so the two runs compare the heads (the paper's 32s vs 8s ordering).

    python scripts/segment.py --mode=train --config=configs/rocks_fcn32s_vgg16.py --workdir=runs/rocks_fcn32s
"""
import os
import runpy

_BASE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rocks_fcn8s_vgg16.py")


def get_config():
    return runpy.run_path(_BASE)["get_config"]("32s")
