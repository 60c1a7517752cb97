"""The node registry: built-in and custom node classes under their class_type names, and object_info.

Registries are explicit objects handed to the validator and executor (no module-level global), so
tests build their own. ``register`` refuses duplicates and names the pack that tried.
"""
from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


class RegistryError(Exception):
    pass


@dataclass
class PluginFailure:
    """A custom node pack that could not be loaded, kept so the UI and /object_info callers can show it."""

    pack: str
    path: str
    error: str
    traceback: str


@dataclass
class NodeRegistry:
    classes: dict = field(default_factory=dict)  # class_type -> class
    display_names: dict = field(default_factory=dict)  # class_type -> display name
    modules: dict = field(default_factory=dict)  # class_type -> python_module string
    web_directories: dict = field(default_factory=dict)  # module name -> absolute dir
    failures: list = field(default_factory=list)  # PluginFailure
    loaded_packs: list = field(default_factory=list)  # (name, path, seconds)
    _unserialisable: set = field(default_factory=set, repr=False)  # logged once each

    def register(self, cls, name: str | None = None, *, display_name: str | None = None,
                 module: str = "nodes", override: bool = False) -> type:
        name = name or cls.__name__
        if name in self.classes and not override:
            raise RegistryError(
                f"node {name!r} from {module} is already registered by {self.modules[name]}")
        check_node_class(cls, name)
        self.classes[name] = cls
        self.modules[name] = module
        shown = display_name or getattr(cls, "DISPLAY_NAME", None)
        if shown:
            self.display_names[name] = shown
        else:
            self.display_names.pop(name, None)
        return cls

    def __contains__(self, name) -> bool:
        return name in self.classes

    def get(self, name):
        return self.classes.get(name)

    def names(self):
        return list(self.classes)

    def display_name(self, name) -> str:
        return self.display_names.get(name, name)

    def node_info(self, name) -> dict:
        """One entry of /object_info, with exactly the keys of docs/comfy-api.md §1.5."""
        cls = self.classes[name]
        inputs = cls.INPUT_TYPES()
        info = {
            "input": inputs,
            "input_order": {section: list(values) for section, values in inputs.items()},
            "is_input_list": bool(getattr(cls, "INPUT_IS_LIST", False)),
            "output": list(cls.RETURN_TYPES),
            "output_is_list": (list(getattr(cls, "OUTPUT_IS_LIST", None) or []) + [False] * len(cls.RETURN_TYPES))[
                :len(cls.RETURN_TYPES)],
            "output_name": list(getattr(cls, "RETURN_NAMES", None) or cls.RETURN_TYPES),
            "name": name,
            "display_name": self.display_name(name),
            "description": getattr(cls, "DESCRIPTION", "") or "",
            "python_module": self.modules.get(name, "nodes"),
            "category": getattr(cls, "CATEGORY", "sd") or "sd",
            "output_node": bool(getattr(cls, "OUTPUT_NODE", False)),
            "has_intermediate_output": bool(getattr(cls, "HAS_INTERMEDIATE_OUTPUT", False)),
            "search_aliases": list(getattr(cls, "SEARCH_ALIASES", []) or []),
        }
        if getattr(cls, "OUTPUT_TOOLTIPS", None) is not None:
            info["output_tooltips"] = list(cls.OUTPUT_TOOLTIPS)
        for attr, key in (("DEPRECATED", "deprecated"), ("EXPERIMENTAL", "experimental"),
                          ("DEV_ONLY", "dev_only")):
            if getattr(cls, attr, False):
                info[key] = True
        if hasattr(cls, "API_NODE"):
            info["api_node"] = cls.API_NODE
        if hasattr(cls, "ESSENTIALS_CATEGORY"):
            info["essentials_category"] = cls.ESSENTIALS_CATEGORY
        return info

    def object_info(self) -> dict:
        """Every node's entry; a node whose INPUT_TYPES raises or is not JSON is skipped with a logged reason."""
        import json

        out = {}
        for name in self.classes:
            try:
                info = self.node_info(name)
            except Exception:  # a plugin whose INPUT_TYPES raises must not break the catalogue
                log.exception("object_info: node %s (%s) raised; skipped", name, self.modules.get(name))
                continue
            try:
                json.dumps(info)
            except (TypeError, ValueError) as e:
                if name not in self._unserialisable:
                    self._unserialisable.add(name)
                    log.warning("object_info: node %s (%s) skipped: its INPUT_TYPES/RETURN_TYPES are not JSON (%s)",
                                name, self.modules.get(name), e)
                continue
            out[name] = info
        return out


def check_node_class(cls, name: str) -> None:
    """Refuse classes that cannot work as nodes, with a message that names the node."""
    for attr in ("INPUT_TYPES", "RETURN_TYPES"):
        try:
            getattr(cls, attr)
        except AttributeError as e:  # absent, or computed (V3 schemas) and failing inside: say which
            inner = "" if f"attribute '{attr}'" in str(e) else f" ({type(e).__name__}: {e})"
            raise RegistryError(f"node {name!r}: class {cls!r} has no {attr}{inner}") from e
    # Without FUNCTION a node is display-only (notes, reroutes of some packs): ComfyUI lists it, and
    # running it fails in the executor, naming the node.
    if hasattr(cls, "FUNCTION") and not hasattr(cls, cls.FUNCTION):
        raise RegistryError(f"node {name!r}: FUNCTION {cls.FUNCTION!r} is not a method of the class")
    if not isinstance(cls.RETURN_TYPES, (tuple, list)):
        raise RegistryError(f"node {name!r}: RETURN_TYPES must be a tuple")


def v3_extension_nodes(module, pack: str, on_error=None) -> tuple[dict, dict]:
    """A V3 pack's nodes: ``module.comfy_entrypoint()`` (sync or async) gives a ComfyExtension; its
    ``on_load`` runs, then ``get_node_list`` gives node classes, keyed by their schemas' node ids.

    Returns (NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS) shaped like a classic pack's, so the
    loader registers V3 nodes through the same path. Raises RegistryError naming the pack when the
    entry point breaks the contract; a node whose schema fails goes to ``on_error(class name, error)``
    (when given) and is left out.
    """
    from core.execution.node_call import run_sync

    entrypoint = getattr(module, "comfy_entrypoint", None)
    if not callable(entrypoint):
        raise RegistryError(f"pack {pack}: comfy_entrypoint is not callable")
    extension = run_sync(entrypoint()) if inspect.iscoroutinefunction(entrypoint) else entrypoint()
    if inspect.isawaitable(extension):
        extension = run_sync(extension)
    if not hasattr(extension, "get_node_list"):
        raise RegistryError(f"pack {pack}: comfy_entrypoint returned {type(extension).__name__}, not a ComfyExtension")
    on_load = getattr(extension, "on_load", None)
    if on_load is not None:
        loaded = on_load()
        if inspect.isawaitable(loaded):
            run_sync(loaded)
    node_list = extension.get_node_list()
    if inspect.isawaitable(node_list):
        node_list = run_sync(node_list)
    if not isinstance(node_list, (list, tuple)):
        raise RegistryError(f"pack {pack}: get_node_list() returned {type(node_list).__name__}, not a list")
    mappings, display = {}, {}
    for cls in node_list:
        get_schema = getattr(cls, "GET_SCHEMA", None)
        try:
            if get_schema is None:
                raise RegistryError(f"{cls!r} in get_node_list() is not an io.ComfyNode class")
            schema = get_schema()
        except Exception as e:  # one node's broken schema must not cost the pack its other nodes
            if on_error is None:
                raise
            on_error(getattr(cls, "__name__", repr(cls)), e)
            continue
        mappings[schema.node_id] = cls
        if schema.display_name is not None:
            display[schema.node_id] = schema.display_name
    return mappings, display
