"""FCN-8s on a ResNet-18 backbone (torchvision conventions) for the real SEM rock set.

Skips come from the conv3 (stride 8) and conv4 (stride 16) stage outputs,
scores from conv5 (stride 32); upsampling kernels are 2f-1 wide because
ResNet's strided 'same' convolutions keep cell centres at multiples of the
stride. Randomly initialised backbone. Data as in ``rocks_fcn8s_vgg16``.

    python scripts/segment.py --mode=train --config=configs/rocks_fcn_resnet.py --workdir=runs/rocks_resnet
"""
import os
import runpy

_BASE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rocks_fcn8s_vgg16.py")


def get_config():
    c = runpy.run_path(_BASE)["get_config"]("8s")
    for field in ("backbone_width", "backbone_batch_norm", "fc_units", "dropout_rate"):
        del c.model[field]
    c.model.backbone = "resnet18"
    c.model.resnet_variant = "torch"
    c.optim.lr = 1e-3
    return c
