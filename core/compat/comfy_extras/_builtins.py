"""What each ``comfy_extras.nodes_*`` stand-in serves: our built-in node class for every ComfyUI node
kept in that module, and placeholders (raising when used) for its other names.

The stand-ins expose the real classes of our ``nodes`` package, so this plugin-facing module imports
``nodes`` — the one place under core/ that does, because serving ComfyUI's module layout for our
built-ins is its whole job. Nothing in the engine imports it.
"""
from __future__ import annotations

import importlib


def _surface():
    return importlib.import_module("nodes._comfy")


def comfy_module_name(name: str) -> str:
    """``comfy_extras.nodes_mask`` whether imported top-level (plugins) or as core.compat.comfy_extras.*."""
    return name[name.index("comfy_extras."):]


def stand_in(name: str, namespace: dict):
    """Fill a stand-in module's namespace with our classes and mappings; returns its ``__getattr__``."""
    surface = _surface()
    module = comfy_module_name(name)
    names = surface.comfy_names().get(module, frozenset())
    ours = {n: cls for n, cls in surface.builtin_classes().items() if n in names}
    namespace.update(ours)
    namespace["NODE_CLASS_MAPPINGS"] = dict(ours)
    namespace["NODE_DISPLAY_NAME_MAPPINGS"] = {n: cls.DISPLAY_NAME for n, cls in ours.items()
                                               if getattr(cls, "DISPLAY_NAME", None)}

    def __getattr__(attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return surface.module_attribute(module, attr, ours)

    return __getattr__
