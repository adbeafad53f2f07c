"""Name -> model builder registry: ``create('resnet50', num_classes=10)``.

A builder is a Linen Module class or a function returning a module.
``register(name, **fixed)`` records it together with arguments that the
name pins (``register('vgg16', depth=16)`` on ``VGG``). The table is open:
any package can register more names (heads, detectors) at import time.
"""
import dataclasses
import inspect
from typing import Any, Callable

import flax.linen as nn

_REGISTRY: dict[str, tuple[Callable[..., nn.Module], dict[str, Any]]] = {}

# Module dataclass fields that are Flax plumbing, not model options.
_FLAX_FIELDS = frozenset({"parent", "name"})


def register(name: str, **fixed: Any) -> Callable:
    """Decorator: registers a Module class or builder function under ``name``.

    ``fixed`` are keyword arguments the name pins (callers may not override
    them). Returns the decorated object unchanged, so decorators stack.
    """
    if not isinstance(name, str) or not name or name != name.lower():
        raise ValueError(f"model names are non-empty lower-case strings, got {name!r}.")

    def decorator(builder):
        if not callable(builder):
            raise ValueError(
                f"register({name!r}) needs a Module class or a function, got {builder!r}."
            )
        if name in _REGISTRY and _REGISTRY[name] != (builder, fixed):
            raise ValueError(
                f"model name {name!r} is already registered to {_REGISTRY[name][0]!r}; "
                "choose another name."
            )
        accepted = _accepted_kwargs(builder)
        unknown = sorted(set(fixed) - accepted) if accepted is not None else []
        if unknown:
            raise ValueError(f"register({name!r}): {builder!r} has no argument(s) {unknown}.")
        _REGISTRY[name] = (builder, dict(fixed))
        return builder

    return decorator


def available() -> list[str]:
    """Sorted names of every registered model."""
    return sorted(_REGISTRY)


def options(name: str) -> list[str]:
    """Keyword arguments ``create(name, ...)`` accepts (sorted)."""
    builder, fixed = _lookup(name)
    accepted = _accepted_kwargs(builder)
    if accepted is None:
        raise ValueError(
            f"model {name!r} is built by a function taking **kwargs; see its docstring."
        )
    return sorted(accepted - set(fixed))


def create(name: str, **kwargs: Any) -> nn.Module:
    """Builds the registered model ``name`` with keyword options ``kwargs``."""
    builder, fixed = _lookup(name)
    pinned = sorted(set(kwargs) & set(fixed))
    if pinned:
        raise ValueError(
            f"model {name!r} fixes {', '.join(f'{k}={fixed[k]!r}' for k in pinned)}; "
            f"drop {pinned} or pick another registered name."
        )
    accepted = _accepted_kwargs(builder)
    if accepted is not None:
        unknown = sorted(set(kwargs) - accepted)
        if unknown:
            raise ValueError(
                f"model {name!r} has no option(s) {unknown}; "
                f"it accepts {sorted(accepted - set(fixed))}."
            )
    return builder(**fixed, **kwargs)


def name_of(model: nn.Module) -> str | None:
    """The registered name that builds ``model``, or None (for messages: 'vgg16_bn', not 'VGG').

    A name matches when it registers ``model``'s class and pins arguments
    that ``model`` has; the one pinning the most wins (vgg16_bn over vgg16).
    """
    matches = []
    for name in available():
        builder, fixed = _REGISTRY[name]
        if type(model) is builder and all(getattr(model, k, object()) == v for k, v in fixed.items()):
            matches.append((-len(fixed), name))
    return min(matches)[1] if matches else None


def _lookup(name: str):
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; available models: {', '.join(available())}.")
    return _REGISTRY[name]


def _accepted_kwargs(builder) -> set[str] | None:
    """Keyword arguments a builder takes; None when it takes **kwargs."""
    if isinstance(builder, type) and dataclasses.is_dataclass(builder):
        return {f.name for f in dataclasses.fields(builder) if f.init} - _FLAX_FIELDS
    params = inspect.signature(builder).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return {
        p.name for p in params
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    } - _FLAX_FIELDS


def option_defaults(name: str) -> dict[str, Any]:
    """``{option: default}`` of ``create(name, ...)`` (options without a default map to None)."""
    builder, fixed = _lookup(name)
    out = {}
    if isinstance(builder, type) and dataclasses.is_dataclass(builder):
        for f in dataclasses.fields(builder):
            if f.init and f.name not in _FLAX_FIELDS and f.name not in fixed:
                default = f.default if f.default is not dataclasses.MISSING else None
                out[f.name] = default
        return out
    for p in inspect.signature(builder).parameters.values():
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY) \
                and p.name not in _FLAX_FIELDS and p.name not in fixed:
            out[p.name] = None if p.default is inspect.Parameter.empty else p.default
    return out
