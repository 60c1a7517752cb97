"""Built-in nodes. Each module of this package lists its node classes in ``NODES``.

ComfyUI packs do ``import nodes`` for ``MAX_RESOLUTION``, ``NODE_CLASS_MAPPINGS``, every built-in class
(``nodes.KSampler``) and ComfyUI's helpers (``nodes.common_ksampler``); the last two come from
``nodes/_comfy.py`` through the module ``__getattr__`` below.
Node modules import torch and core.models lazily (inside ``execute``), so building the catalogue and
starting the server stay fast.
"""
from __future__ import annotations

import importlib
import pkgutil

from core.execution.spec import MAX_RESOLUTION  # noqa: F401  (re-exported for plugins)

NODE_CLASS_MAPPINGS: dict = {}
NODE_DISPLAY_NAME_MAPPINGS: dict = {}


def builtin_modules() -> list:
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def register_builtin_nodes(registry) -> None:
    """Register every built-in node class into ``registry`` (and the compat mappings above)."""
    for name in builtin_modules():
        module = importlib.import_module(f"{__name__}.{name}")
        for cls in getattr(module, "NODES", ()):
            registry.register(cls, module="nodes")
            NODE_CLASS_MAPPINGS[cls.__name__] = cls
            NODE_DISPLAY_NAME_MAPPINGS[cls.__name__] = registry.display_name(cls.__name__)


def __getattr__(name):
    if name.startswith("__") or name == "_comfy":
        raise AttributeError(name)
    return importlib.import_module(f"{__name__}._comfy").attribute(name)


def __dir__():
    return sorted(set(globals()) | set(importlib.import_module(f"{__name__}._comfy").names()))
