"""What each ``comfy_extras.nodes_*`` stand-in serves: our built-in node class for every ComfyUI node
kept in that module, and placeholders (raising when used, naming themselves) for every other name.

The stand-ins expose the real classes of our ``nodes`` package, so this plugin-facing module imports
``nodes`` — the one place under core/ that does, because serving ComfyUI's module layout for our
built-ins is its whole job. Nothing in the engine imports it.
"""
from __future__ import annotations

import importlib
import logging

log = logging.getLogger(__name__)


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
    found = surface.comfy_module_nodes(module)
    ours = {class_name: cls for class_name, (_node_id, cls) in found.items()}
    namespace.update(ours)
    namespace["NODE_CLASS_MAPPINGS"] = {node_id: cls for node_id, cls in found.values()}
    namespace["NODE_DISPLAY_NAME_MAPPINGS"] = {node_id: cls.DISPLAY_NAME for node_id, cls in found.values()
                                               if getattr(cls, "DISPLAY_NAME", None)}

    def __getattr__(attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        if attr in ours:
            return ours[attr]
        # Any other name is a placeholder, also names newer than the ComfyUI release our name list
        # comes from (packs track ComfyUI's main branch): ``from comfy_extras.nodes_lt import X`` must
        # not stop a whole pack from loading; using X raises, naming it.
        if attr not in names:
            log.debug("%s.%s is not in the ComfyUI names we know; a placeholder stands in", module, attr)
        return surface.missing(module, attr)

    return __getattr__
