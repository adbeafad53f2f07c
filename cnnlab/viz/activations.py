"""Looking inside a convnet: first-layer filters, feature maps, named layer outputs.

``filter_grid`` and ``activation_grid`` turn weights and feature maps into
tile stacks for ``vis_square``; ``layer_activations`` runs a Flax Linen model
once with ``capture_intermediates=True`` and picks the named layers' outputs
(cnnlab models name their layers, e.g. ``block1_conv1``).
"""
import inspect

import numpy as np

from cnnlab.viz.grids import vis_square


def filter_grid(kernel, padding: int = 1, pad_value: float = 1.0,
                max_filters: int | None = None) -> np.ndarray:
    """A conv kernel (kh, kw, c_in, c_out) as one normalised grid image.

    With c_in == 3 (an RGB first layer) each output filter is one colour tile:
    returns (H', W', 3). Otherwise every (output filter, input channel) slice
    is a grey tile, ordered filter-major (tile k is filter k // c_in, channel
    k % c_in): returns (H', W'). ``max_filters`` keeps the first output filters.
    """
    k = np.asarray(kernel, dtype=np.float32)
    if k.ndim != 4:
        raise ValueError(
            f"Expected a conv kernel shaped (kh, kw, c_in, c_out) (Flax layout); got {k.shape}. "
            "Take it from params['<layer>']['kernel'].")
    if max_filters is not None:
        if max_filters < 1:
            raise ValueError(f"max_filters must be >= 1; got {max_filters}.")
        k = k[..., :max_filters]
    kh, kw, c_in, c_out = k.shape
    if c_in == 3:
        tiles = np.transpose(k, (3, 0, 1, 2))  # (c_out, kh, kw, 3)
    else:
        tiles = np.transpose(k, (3, 2, 0, 1)).reshape(c_out * c_in, kh, kw)  # (c_out*c_in, kh, kw)
    return vis_square(tiles, padding=padding, pad_value=pad_value)


def activation_grid(feature_map, padding: int = 1, pad_value: float = 1.0,
                    max_channels: int | None = None) -> np.ndarray:
    """A feature map (H, W, C) (or (1, H, W, C)) as a grey grid of its C channels.

    Normalised once over the whole map, so weak and strong channels compare.
    ``max_channels`` keeps the first channels. Returns (H', W').
    """
    fm = np.asarray(feature_map, dtype=np.float32)
    if fm.ndim == 4 and fm.shape[0] == 1:
        fm = fm[0]  # (H, W, C)
    if fm.ndim != 3:
        raise ValueError(
            f"Expected one feature map shaped (H, W, C) or (1, H, W, C); got {fm.shape}. "
            "Index a single example out of the batch first.")
    if max_channels is not None:
        if max_channels < 1:
            raise ValueError(f"max_channels must be >= 1; got {max_channels}.")
        fm = fm[..., :max_channels]
    tiles = np.transpose(fm, (2, 0, 1))  # (C, H, W)
    return vis_square(tiles, padding=padding, pad_value=pad_value)


def _accepts_train(model) -> bool:
    try:
        params = inspect.signature(type(model).__call__).parameters
    except (TypeError, ValueError):
        return False
    return "train" in params


def _flatten_intermediates(tree, prefix=()):
    """{'a': {'b': {'__call__': (y,)}}} -> {'a/b': (y,)}; the model's own output is skipped."""
    flat = {}
    for key, value in tree.items():
        if key == "__call__":
            if prefix:
                flat["/".join(prefix)] = value
        elif hasattr(value, "items"):  # dict or FrozenDict
            flat.update(_flatten_intermediates(value, prefix + (str(key),)))
    return flat


def all_intermediates(model, variables, images, train: bool = False) -> dict:
    """Runs ``model`` on images (B, H, W, C) and returns every submodule's output by path.

    Paths join module names with '/' (``stage1_block1/conv1``). A module
    called several times gives its last call. Arrays come back as numpy.
    The model is called with ``train=train`` when its ``__call__`` takes it.
    """
    import jax

    x = np.asarray(images, dtype=np.float32)
    if x.ndim != 4:
        raise ValueError(f"Expected images shaped (B, H, W, C); got {x.shape}.")
    if not hasattr(variables, "items") or "params" not in variables:
        raise ValueError(
            "variables must be the dict returned by model.init (with a 'params' entry); "
            f"got {type(variables).__name__} with keys {list(getattr(variables, 'keys', lambda: [])())}.")
    variables = {k: v for k, v in variables.items() if k != "intermediates"}
    kwargs = {"train": train} if _accepts_train(model) else {}
    _, state = model.apply(variables, x, capture_intermediates=True,
                           mutable=["intermediates"], **kwargs)
    flat = _flatten_intermediates(state["intermediates"])
    return {path: jax.tree.map(np.asarray, calls[-1]) for path, calls in flat.items()}


def match_layer(name: str, available) -> str:
    """The one path in ``available`` equal to ``name`` or ending in '/' + ``name``."""
    hits = [p for p in available if p == name or p.endswith("/" + name)]
    if len(hits) == 1:
        return hits[0]
    if not hits:
        raise ValueError(
            f"Unknown layer name {name!r}. Available layers: {', '.join(sorted(available))}.")
    raise ValueError(
        f"Layer name {name!r} matches several modules: {', '.join(sorted(hits))}. "
        "Give a longer path such as 'block/conv'.")


def layer_activations(model, variables, image, layer_names, train: bool = False) -> dict:
    """Outputs of the named layers for one image (H, W, C) or a batch (B, H, W, C).

    ``layer_names`` is one name or a list; each matches the module path that
    equals it or ends in it (``'block1_conv1'`` or ``'stage1_block1/conv1'``).
    Returns {name: array}; for a single image the batch axis is removed, so a
    conv layer gives (h, w, C), ready for ``activation_grid``.
    """
    import jax

    x = np.asarray(image, dtype=np.float32)
    single = x.ndim == 3
    if single:
        x = x[None]  # (1, H, W, C)
    if x.ndim != 4:
        raise ValueError(
            f"Expected an image (H, W, C) or batch (B, H, W, C); got {np.asarray(image).shape}.")
    names = [layer_names] if isinstance(layer_names, str) else list(layer_names)
    if not names:
        raise ValueError("layer_names is empty; give at least one layer name.")
    outputs = all_intermediates(model, variables, x, train=train)
    result = {}
    for name in names:
        value = outputs[match_layer(name, outputs)]
        result[name] = jax.tree.map(lambda a: a[0], value) if single else value
    return result
