"""Applies a named filter to an image and writes a PNG of the input beside the response.

Examples:
  python scripts/convolve.py --filter=sobel_horizontal --out=sobel.png
  python scripts/convolve.py --image=sample:chelsea --filter=brown --out=brown.png
  python scripts/convolve.py --image=photo.jpg --filter=gaussian_blur --nogrey --impl=numpy
"""
import sys

from absl import app, flags

import cnnlab  # noqa: F401  (sets XLA CPU flags before jax starts)
from cnnlab.ops import filters, images
from cnnlab.viz import filter_response

_IMAGE = flags.DEFINE_string(
    "image", "sample:chelsea",
    f"Image file path, or sample:<name> for a bundled photograph "
    f"({', '.join(images.SAMPLE_IMAGES)}).")
_FILTER = flags.DEFINE_string(
    "filter", "horizontal_line", f"Filter name: {', '.join(filters.available())}.")
_OUT = flags.DEFINE_string("out", "convolve.png", "Where to write the PNG figure.")
_GREY = flags.DEFINE_boolean(
    "grey", None,
    "Convert the image to grey first. Default: yes for 2-D filters, no for colour filters; "
    "--nogrey with a 2-D filter filters each colour channel separately.")
_IMPL = flags.DEFINE_enum(
    "impl", "jax", ["jax", "numpy"], "jax: fast conv op; numpy: the slow reference loops.")


def _fail(message):
    """One clear line on stderr and exit status 1, no traceback."""
    print(f"convolve.py: error: {message}", file=sys.stderr)
    return 1


def main(argv):
    if len(argv) > 1:
        return _fail(f"unexpected arguments {argv[1:]}; every option is a --flag")
    try:
        kernel = filters.get_filter(_FILTER.value)
        grey = kernel.ndim == 2 if _GREY.value is None else _GREY.value
        if grey and kernel.ndim == 3:
            return _fail(f"--filter={_FILTER.value} is a colour filter and needs a colour "
                         f"image; drop --grey")
        image = images.image_from_source(_IMAGE.value, flatten=grey)
        response = filters.apply_filter(image, kernel, impl=_IMPL.value)
        title = f"{_FILTER.value}: {filters.describe(_FILTER.value)} ({_IMPL.value})"
        path = filter_response.plot_filter_response(
            image, response, _OUT.value, kernel=kernel, title=title)
    except (ValueError, FileNotFoundError, ImportError, OSError) as err:
        return _fail(err)
    print(path)
    return 0


if __name__ == "__main__":
    app.run(main)
