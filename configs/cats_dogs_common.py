"""Shared data settings of the dogs-vs-cats lesson configs (image folder, 150x150, binary).

The lesson's layout is cats_and_dogs_small/{train,validation,test}/{cats,dogs}/
(make it from Kaggle's flat folder with cnnlab.data.image_folder.make_splits).
Here it runs on CIFAR-10's cat and dog classes:
  --config.data.archive=../shared/data/cifar10_jpg.tar.gz --config.data.root=.
  --config.data.classes="('cat','dog')" --config.data.image_size="(32,32)"
Dogs are the positive class (label 1), as in the lesson.
"""
from cnnlab.train.defaults import base_config


def cats_dogs_config():
    c = base_config()
    c.data.name = "image_folder"
    c.data.root = "cats_and_dogs_small"
    c.data.archive = ""
    c.data.classes = ("cats", "dogs")
    c.data.image_size = (150, 150)
    c.data.validation_fraction = 0.0
    c.data.max_per_class = None  # or a number: subsample each class deterministically
    c.model.num_classes = 1  # one sigmoid output: P(dog)
    c.task.loss_type = "sigmoid"
    c.task.num_classes = 1
    c.optim.name = "rmsprop"
    c.optim.lr = 1e-4
    c.train.epochs = 30
    c.train.batch_size = 20
    c.train.eval_batch_size = 50
    return c
