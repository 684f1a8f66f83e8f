"""The sharing modes, one module per mode in this folder, found by name like plugins.

Every module here (but base.py and names starting with '_') defines one `SharingMode` subclass with a
`name`; dropping in a new module adds a mode to the spec, the CLI's --sharing choices, the estimate and
the dashboard. Declarations import no torch (see base.py); `get_mode(name).build(...)` makes the network.

    modes()        name -> class, in display order
    mode_names()   the names, as a tuple (mtl_core.spec.SHARING_MODES)
    get_mode(name) one class; KeyError for an unknown name (the spec validates names first)
"""
from __future__ import annotations

import importlib
import inspect
import pkgutil
from functools import lru_cache

from mtl_core.models.sharing.base import SharingMode

__all__ = ["SharingMode", "modes", "mode_names", "get_mode", "validate", "MultiTaskModel"]


@lru_cache(maxsize=1)
def _discover() -> tuple[type[SharingMode], ...]:
    found = []
    for info in pkgutil.iter_modules(__path__):
        if info.name == "base" or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, SharingMode) and cls is not SharingMode and cls.__module__ == module.__name__ \
                    and cls.name:
                found.append(cls)
    names = [cls.name for cls in found]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise RuntimeError(f"sharing modes declared twice: {', '.join(duplicates)}")
    return tuple(sorted(found, key=lambda cls: (cls.order, cls.name)))


def modes() -> dict[str, type[SharingMode]]:
    return {cls.name: cls for cls in _discover()}


def mode_names() -> tuple[str, ...]:
    return tuple(cls.name for cls in _discover())


def get_mode(name: str) -> type[SharingMode]:
    return modes()[name]


def validate(spec, cards: dict, depth: int) -> None:
    """The sharing part of ExperimentSpec.validated: the chosen mode checks its options, every other mode
    refuses a value of its own options (they would be ignored silently)."""
    chosen = get_mode(spec.sharing)
    for cls in _discover():
        if cls is not chosen:
            cls.refuse_unused(spec)
    chosen.validate(spec, cards, depth)


def __getattr__(name: str):
    # The networks' base class, for annotations (`from mtl_core.models.sharing import MultiTaskModel`);
    # imported on demand so that the declarations stay free of torch.
    if name == "MultiTaskModel":
        from mtl_core.models.multitask import MultiTaskModel

        return MultiTaskModel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
