"""Stacked class-conditional GAN (StackGAN-style, cnnlab.generative.stacked_gan) on the CIFAR-10 JPEG folder.

Stage I draws 16x16 images, stage II refines them to 32x32; both are
conditioned on the class label through conditioning augmentation (a learned
Gaussian per class, KL to N(0, I) weighted by train.kl_weight). Stage I is
trained first, then stage II with stage I frozen.

  python scripts/generative.py --model=stacked_gan --config=configs/generative/stacked_gan.py \
    --outdir=runs/stacked_gan --classifier_workdir=runs/cifar10_cnn

The classifier that scores the samples is a cnnlab CIFAR-10 run on the same folder:

  python scripts/train.py --config=configs/cifar10_cnn.py --workdir=runs/cifar10_cnn \
    --config.data.name=image_folder --config.data.archive=../shared/data/cifar10_jpg.tar.gz \
    --config.data.train_split=train --config.data.eval_split=validation
"""
import ml_collections


def get_config():
    c = ml_collections.ConfigDict()
    # A cnnlab.data image-folder source (fields: cnnlab.data.fields); the archive unpacks once into cache_dir.
    c.data = ml_collections.ConfigDict(dict(
        name="image_folder",
        archive="../shared/data/cifar10_jpg.tar.gz",  # cifar10_jpg/{train,test}/<class>/NNNN.jpg, 32x32
        cache_dir="/tmp/cnnlab_data",
        root=".",  # relative to the extracted archive
        image_size=(32, 32),  # full resolution (stage II); stage I draws at half; divisible by 8
        train_split="train",
        test_split="test",
    ))
    c.model = ml_collections.ConfigDict(dict(
        num_classes=10,
        noise_dim=64,  # z of stage I
        cond_dim=32,  # conditioning augmentation: size of c (one per stage)
        s1_g_features=(256, 128),  # stage I DCGAN generator: projected map at H/8, then per transposed conv
        s1_d_features=(64, 128),  # stage I projection discriminator at H/2
        s2_features=64,  # stage II width F: encoder F/2, F at H/4 with the residual blocks, up F/2, F/4
        s2_res_blocks=2,
        s2_d_features=(32, 64, 128),  # stage II projection discriminator at H
    ))
    c.g_optim = ml_collections.ConfigDict(dict(name="adam", lr=2e-4, b1=0.5, eps=1e-8))  # StackGAN's Adam
    c.d_optim = ml_collections.ConfigDict(dict(name="adam", lr=2e-4, b1=0.5, eps=1e-8))
    c.train = ml_collections.ConfigDict(dict(
        seed=0,
        stage1_steps=2000,  # about 0.3 s a step on 2 shared CPU cores
        stage2_steps=1500,  # about 0.7 s a step
        batch_size=64,
        log_every=250,
        label_smoothing=0.0,
        # Weight of the conditioning-augmentation KL in each generator loss (StackGAN's lambda). Telling
        # 10 classes apart costs c at least log 10 = 2.3 nats of KL; at 1.0 that price is more than the
        # adversarial loss gains, c collapses to N(0, I) (KL 0.09 nats) and the class is ignored.
        kl_weight=0.02,
        max_train=0,  # 0 = every training image
    ))
    c.eval = ml_collections.ConfigDict(dict(
        num_samples=1000,  # samples per stage scored by the classifier and the sharpness measures
        num_real=1000,  # real test images (and another 1,000 as the real-vs-real reference)
        grid_per_class=8,  # columns per stage in the picture
        feature_layer="dense",  # classifier layer of the Fréchet distance (cifar10_cnn: the 512-unit dense)
    ))
    return c
