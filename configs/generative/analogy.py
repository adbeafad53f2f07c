"""Neural image analogies A : A' :: B : B' with CNN features (cnnlab.generative.analogy).

python scripts/generative.py --model=analogy --config=configs/generative/analogy.py --outdir=runs/analogy \
  --config.a=a.png --config.a_prime=ap.png --config.b=b.png
uses the ImageNet EfficientNet-Lite0; VGG16 with --config.network=vgg16 --config.weights=<notop .h5>.
--config.reference=<g(B) file>, when the filter A -> A' is known, adds |B' - ref| and |B - ref| to metrics.json.
"""
import ml_collections


def get_config():
    c = ml_collections.ConfigDict()
    c.a = ""  # A: a file pillow reads, or sample:<name> (chelsea, astronaut, coffee)
    c.a_prime = ""  # A': A after the filter to learn
    c.b = ""  # B: the image to filter by analogy
    c.reference = ""  # optional: the true B' (the filter applied to B), for an error number
    c.network = "efficientnet_lite0"  # feature network: efficientnet_lite0 | vgg16
    c.weights = ""  # '' = the network's default (lite0: imagenet; vgg16: random) | random | imagenet | a file
    c.image_size = 128  # every image is centre-cropped square and resized to image_size (>= 32)
    c.layers = ()  # () = the network's default (lite0: stem, stage2, stage3; vgg16: block1..3_conv2)
    c.content_layer = ""  # '' = the network's default (lite0: stage4; vgg16: block4_conv2)
    c.patch = 3  # k x k feature patches (odd)
    c.analogy_weight = 1.0
    c.content_weight = 0.1
    c.tv_weight = 0.0
    c.steps = 150  # Adam steps per round
    c.rounds = 1  # > 1: re-match with the current B' and optimise again
    c.lr = 0.0  # 0 = the network's default (lite0: 0.005; vgg16: 0.02)
    c.init = "warp"  # 'warp' (A' warped by the finest matches) | 'b' | 'noise'
    c.train = ml_collections.ConfigDict(dict(seed=0))
    return c
