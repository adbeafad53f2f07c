"""Transfer the pretrained narrow ResNet-18 to the other five CIFAR-10 classes.

Phase 1 trains a new head with the backbone frozen (BatchNorm in inference
mode); phase 2 fine-tunes everything at a lower rate. Point init_weights at
the pretraining run: --config.init_weights=runs/cifar5_pretrain
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cifar5_common import BACKBONE, OTHER_FIVE, cifar5_config  # noqa: E402

PHASE_EPOCHS = 4


def get_config():
    c = cifar5_config(OTHER_FIVE, max_per_class=500)
    c.init_weights = ""  # a cnnlab run directory or .h5 file, or 'random'
    c.model.name = "transfer"
    c.model.base = "resnet18"
    c.model.base_kwargs = dict(BACKBONE)
    c.model.head = "gap"
    c.model.dropout = 0.0
    c.model.backbone_train = False
    c.train.phases = (
        {"epochs": PHASE_EPOCHS, "lr": 0.05, "schedule": "constant", "freeze": ("backbone/.*",)},
        {"epochs": PHASE_EPOCHS, "lr": 0.01, "schedule": "cosine", "freeze": ()},
    )
    c.train.eval_every = 0
    return c
