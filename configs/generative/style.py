"""Neural style transfer with VGG16 features (cnnlab.generative.style_transfer).

python scripts/generative.py --model=style --config=configs/generative/style.py --outdir=runs/style \
  --config.content=photo.jpg --config.style=painting.jpg --config.weights=vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5
Without --config.weights the VGG16 weights are random (textures still transfer, less faithfully).
"""
import ml_collections


def get_config():
    c = ml_collections.ConfigDict()
    c.content = ""  # content image file (any format pillow reads)
    c.style = ""  # style image file
    c.weights = ""  # Keras VGG16 .h5 (ImageNet); empty = random weights
    c.image_size = 128  # both images are resized to image_size x image_size (>= 32)
    c.content_layer = "block4_conv2"
    c.style_layers = ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1")
    c.content_weight = 1.0
    c.style_weight = 10.0
    c.tv_weight = 0.01
    c.steps = 150
    c.lr = 0.02
    c.init = "content"  # 'content' | 'noise'
    c.train = ml_collections.ConfigDict(dict(seed=0))
    return c
