"""scripts/convolve.py end to end, and the image loading and figure helpers it is built from."""
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from cnnlab.ops import images
from cnnlab.viz import filter_response

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, "scripts", "convolve.py")


def _run_script(*args, cwd):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([REPO, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["MPLCONFIGDIR"] = str(cwd)  # matplotlib's cache, away from the home folder
    return subprocess.run([sys.executable, SCRIPT, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def _assert_png(path, min_width=600, min_height=250):
    assert os.path.isfile(path)
    with Image.open(path) as im:
        assert im.format == "PNG"
        im.load()
        width, height = im.size
        pixels = np.asarray(im.convert("L"), np.float32)
    assert width >= min_width and height >= min_height
    assert pixels.std() > 10  # a real figure, not a blank canvas


# --- the script ---------------------------------------------------------------------------------

def test_script_default_photo_jax(tmp_path):
    out = tmp_path / "tmp" / "x.png"
    result = _run_script(f"--out={out}", "--filter=sobel_horizontal", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == str(out)
    _assert_png(out)


def test_script_colour_filter_numpy_reference_on_a_file(tmp_path):
    rng = np.random.default_rng(0)
    photo = images.save_png(tmp_path / "photo.png", rng.random((24, 30, 3)))
    out = tmp_path / "brown.png"
    result = _run_script(f"--image={photo}", "--filter=brown", "--impl=numpy", f"--out={out}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    _assert_png(out)


def test_script_unknown_filter_exits_with_one_clear_message(tmp_path):
    result = _run_script("--filter=nope", f"--out={tmp_path / 'x.png'}", cwd=tmp_path)
    assert result.returncode != 0
    assert "unknown filter 'nope'; available filters: horizontal_line" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "x.png").exists()
    result = _run_script("--out=figure.jpg", cwd=tmp_path)
    assert result.returncode != 0 and "ending in '.png'" in result.stderr


def test_script_missing_image_and_grey_colour_filter_fail_cleanly(tmp_path):
    result = _run_script("--image=no/such.png", cwd=tmp_path)
    assert result.returncode != 0
    assert "image file not found: no/such.png" in result.stderr and "Traceback" not in result.stderr
    result = _run_script("--filter=brown", "--grey", cwd=tmp_path)
    assert result.returncode != 0
    assert "colour filter" in result.stderr and "Traceback" not in result.stderr


# --- image helpers -------------------------------------------------------------------------------

@pytest.mark.parametrize("name, shape", [("astronaut", (512, 512, 3)), ("chelsea", (300, 451, 3)),
                                         ("coffee", (400, 600, 3))])
def test_sample_images_from_scikit_image(name, shape):
    img = images.sample_image(name)
    assert img.shape == shape and img.dtype == np.float32
    assert 0.0 <= img.min() and img.max() <= 1.0 and img.std() > 0.1
    grey = images.sample_image(name, flatten=True)
    np.testing.assert_allclose(grey, img.mean(axis=-1), rtol=1e-6)


@pytest.mark.parametrize("name, shape", [("china", (427, 640, 3)), ("flower", (427, 640, 3))])
def test_sample_images_from_scikit_learn(name, shape):
    pytest.importorskip("sklearn", reason="the china and flower photos come with scikit-learn")
    img = images.sample_image(name)
    assert img.shape == shape and 0.0 <= img.min() and img.max() <= 1.0


def test_unknown_sample_image_lists_the_names():
    with pytest.raises(ValueError, match="unknown sample image 'dog'; available: astronaut, chelsea"):
        images.image_from_source("sample:dog")


def test_save_and_load_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, size=(5, 7, 3)).astype(np.uint8)
    path = images.save_png(tmp_path / "sub" / "a.png", rgb)
    loaded = images.load_image(path)
    assert loaded.shape == (5, 7, 3) and loaded.dtype == np.float32
    np.testing.assert_allclose(loaded, rgb / 255.0, atol=1e-7)
    np.testing.assert_allclose(images.load_image(path, flatten=True), (rgb / 255.0).mean(-1), atol=1e-6)
    np.testing.assert_allclose(images.image_from_source(str(path)), loaded)
    # floats are clipped to [0, 1] and rounded to 8 bits
    images.save_png(tmp_path / "f.png", np.array([[-0.5, 0.5, 2.0]]))
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "f.png")), [[0, 128, 255]])


def test_load_image_expands_grey_drops_alpha_and_reads_16_bit(tmp_path):
    Image.fromarray(np.full((3, 4), 51, np.uint8)).save(tmp_path / "grey.png")
    grey = images.load_image(tmp_path / "grey.png")
    assert grey.shape == (3, 4, 3)
    np.testing.assert_allclose(grey, 0.2, atol=1e-7)
    Image.fromarray(np.full((3, 4, 4), 255, np.uint8)).save(tmp_path / "rgba.png")
    assert images.load_image(tmp_path / "rgba.png").shape == (3, 4, 3)
    Image.fromarray(np.full((3, 4), 65535 // 5, np.uint16)).save(tmp_path / "deep.png")
    np.testing.assert_allclose(images.load_image(tmp_path / "deep.png", flatten=True), 0.2, atol=1e-6)


def test_load_image_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="image file not found"):
        images.load_image(tmp_path / "missing.png")
    (tmp_path / "bad.png").write_bytes(b"this is not a picture")
    with pytest.raises(ValueError, match="cannot read image .*bad.png"):
        images.load_image(tmp_path / "bad.png")
    images.save_png(tmp_path / "ok.png", np.zeros((40, 40, 3)))
    data = (tmp_path / "ok.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="cannot read image .*cut.png"):
        images.load_image(tmp_path / "cut.png")


def test_save_png_rejects_bad_arrays(tmp_path):
    with pytest.raises(ValueError, match="save_png needs"):
        images.save_png(tmp_path / "a.png", np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="NaN"):
        images.save_png(tmp_path / "a.png", np.full((2, 2), np.nan))
    with pytest.raises(ValueError, match="uint8 or floats"):
        images.save_png(tmp_path / "a.png", np.zeros((2, 2), np.int64))


# --- the figure ----------------------------------------------------------------------------------

def test_filter_response_figure_panels(tmp_path):
    image = np.random.default_rng(2).random((20, 24)).astype(np.float32)
    kernel = np.array([[1, 0, -1]] * 3, np.float32)
    fig = filter_response.filter_response_figure(image, image[1:-1, 1:-1], kernel, title="t")
    assert len([ax for ax in fig.axes if ax.get_title()]) == 3  # input, kernel, response
    colour = filter_response.filter_response_figure(np.zeros((8, 8, 3)), np.ones((6, 6, 3)))
    assert len([ax for ax in colour.axes if ax.get_title()]) == 2
    path = filter_response.plot_filter_response(image, image, tmp_path / "f" / "fig.png", np.ones((3, 3, 3)))
    _assert_png(path)
    with pytest.raises(ValueError, match="PNG"):
        filter_response.plot_filter_response(image, image, tmp_path / "fig.jpg")
    with pytest.raises(ValueError, match="NaN"):
        filter_response.filter_response_figure(image, np.full((3, 3), np.inf))
