"""The recipe ablation of docs/ablations.md: a small BatchNorm convnet on a CIFAR-10 subset.

A short CPU budget (about 2.5 minutes a run on 2 cores): 1,000 training images
per class (10,000; 10% carved off for validation), 6 epochs, SGD with Nesterov
momentum, cosine decay after a warm-up, weight decay spared on biases and
BatchNorm (the default mask), crop + flip as the baseline augmentation. The
ablated features are all off here; scripts/sweep.py --variant turns one on
per variant:

  python scripts/sweep.py --config=configs/cifar10_ablation.py --workdir=runs/ablation \
    --variant=baseline: --variant=ema:train.ema_decay=0.99 \
    --variant=mixup:data.augment.mixup_alpha=0.2 --variant=cutmix:data.augment.cutmix_alpha=1.0 \
    --variant=randaugment:data.augment.rand_augment_ops=2 \
    --variant=label_smoothing:task.label_smoothing=0.1 --seeds=0,1

The data is the JPEG image folder of ../shared/data/cifar10_jpg.tar.gz; on a
machine without it, --config.data.name=cifar10 reads TFDS instead (then set
train_split='train[:10000]' and eval_split='train[45000:]').
"""
import os

from ml_collections import ConfigDict

from cnnlab.train.defaults import base_config

ARCHIVE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data",
                       "cifar10_jpg.tar.gz")


def get_config():
    c = base_config()
    c.data.name = "image_folder"
    c.data.archive = os.path.normpath(ARCHIVE)
    c.data.root = "."  # relative to the extracted archive
    c.data.image_size = (32, 32)
    c.data.max_per_class = 1000
    c.data.validation_fraction = 0.1
    c.data.augment = ConfigDict({"crop_padding": 4, "horizontal_flip": True, "fill_mode": "constant"})
    c.model.name = "simple_cnn"
    c.model.widths = (32, 64, 128)
    c.model.convs_per_stage = 1
    c.model.global_pool = "avg"
    c.optim.name = "sgd"
    c.optim.lr = 0.1
    c.optim.momentum = 0.9
    c.optim.nesterov = True
    c.optim.weight_decay = 5e-4
    c.optim.schedule = "cosine"
    c.optim.warmup_steps = 50
    c.train.epochs = 6
    c.train.batch_size = 128
    c.train.eval_batch_size = 500
    c.train.best_metric = "val/accuracy"
    return c
