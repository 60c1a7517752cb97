"""The one mechanism for ComfyUI names Latentflow does not honour: they fail where a pack USES them.

A pack imports many names it uses only in some nodes (a video model's attention, a quantisation
helper). In ComfyUI those imports succeed; if ours raised at import, the whole pack would be lost.
So every name that ComfyUI has and we do not implement resolves to a *placeholder*:

* importing it works (``from comfy.ldm.wan.model import WanModel``), subclassing it works
  (``class X(comfy.model_base.WAN21)``), reading it in a default argument works;
* calling it, instantiating it (or a subclass), or reading an attribute of it raises
  :class:`UnsupportedComfyAPI`, whose message names the ComfyUI name and why it is missing.

Which names ComfyUI has comes from ``comfy_surface.json`` (module paths and top-level names of a
ComfyUI checkout, written by scripts/comfy_surface.py; names only, no code). Our compat modules end
with ``__getattr__ = module_getattr(__name__)``; ComfyUI modules we do not provide at all are made
by :class:`SurfaceFinder` as modules of placeholders. A name ComfyUI never had still raises
AttributeError / ModuleNotFoundError, as it would under ComfyUI, so packs' feature checks
(``hasattr``, ``try: import``) take the same branch they take there.
"""
from __future__ import annotations

import functools
import importlib.abc
import importlib.machinery
import json
import sys
from pathlib import Path

SURFACE_FILE = Path(__file__).resolve().parent / "comfy_surface.json"
DOCS = "docs/custom_nodes.md"

# Modules of newer ComfyUI releases than the listing, seen imported by popular packs.
EXTRA_MODULES = {"comfy.quant_ops": [], "comfy_api.torch_helpers": ["set_torch_compile_wrapper"],
                 "comfy_api.feature_flags": []}

# Why whole areas are missing (the first matching prefix wins); everything else: not implemented yet.
REASONS = (
    ("comfy.ldm.", "Latentflow runs its own networks (core/models); ComfyUI's model internals are not provided"),
    ("comfy.text_encoders.", "Latentflow's text encoders are its own (core/models/text_encoder.py)"),
    ("comfy.t2i_adapter", "Latentflow's adapters are its own (core/models/t2i_adapter.py)"),
    ("comfy.taesd", "TAESD networks are not bundled"),
    ("comfy.audio_encoders", "audio models are not supported"),
    ("comfy.image_encoders", "image encoders other than CLIP vision are not supported"),
    ("comfy_api_nodes", "ComfyUI's paid API nodes are not provided"),
)


class UnsupportedComfyAPI(NotImplementedError, AttributeError):
    """A ComfyUI API that Latentflow does not provide was used.

    Also an AttributeError, so ``hasattr(placeholder, "x")`` and ``getattr(placeholder, "x", default)``
    answer as for any missing attribute."""


@functools.lru_cache(maxsize=1)
def surface() -> dict:
    """``{module: [top-level names]}`` of ComfyUI's plugin-facing modules."""
    data = json.loads(SURFACE_FILE.read_text(encoding="utf-8"))
    for module, names in EXTRA_MODULES.items():
        data.setdefault(module, names)
    return data


def reason_for(qualname: str) -> str:
    for prefix, reason in REASONS:
        if qualname.startswith(prefix) or qualname == prefix.rstrip("."):
            return reason
    return "not implemented by Latentflow's compatibility layer"


def message(qualname: str, reason: str | None = None) -> str:
    return (f"{qualname} is a ComfyUI name that Latentflow does not provide: {reason or reason_for(qualname)}; "
            f"the custom node that uses it cannot run ({DOCS} lists what is supported)")


class _PlaceholderMeta(type):
    """Class-level attribute reads (``Missing.some_method``) raise with the placeholder's name."""

    def __getattr__(cls, attr):
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        raise UnsupportedComfyAPI(message(f"{cls.__comfy_name__}.{attr}", cls.__comfy_reason__))

    def __call__(cls, *args, **kwargs):
        raise UnsupportedComfyAPI(message(cls.__comfy_name__, cls.__comfy_reason__))

    def __repr__(cls):
        if "__comfy_name__" in cls.__dict__:
            return f"<unsupported ComfyUI API {cls.__comfy_name__}>"
        return f"<class '{cls.__module__}.{cls.__qualname__}' (subclass of unsupported {cls.__comfy_name__})>"


def placeholder(qualname: str, reason: str | None = None) -> type:
    """A stand-in for ComfyUI's ``qualname``: importable and subclassable, raising when used."""
    module, _, name = qualname.rpartition(".")
    return _PlaceholderMeta(name or qualname, (), {"__comfy_name__": qualname, "__comfy_reason__": reason,
                                                   "__module__": module or "comfy", "__qualname__": name})


def is_placeholder(obj) -> bool:
    return isinstance(obj, _PlaceholderMeta)


def module_getattr(module_name: str, reasons: dict | None = None):
    """A module ``__getattr__``: ComfyUI's names we lack become placeholders, others AttributeError."""
    reasons = reasons or {}

    def __getattr__(name: str):
        if name.startswith("__"):
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
        known = name in reasons or name in surface().get(module_name, ()) or _is_submodule(module_name, name)
        if not known:
            raise AttributeError(f"module {module_name!r} has no attribute {name!r} (ComfyUI has none either)")
        if _is_submodule(module_name, name):
            return importlib.import_module(f"{module_name}.{name}")
        value = placeholder(f"{module_name}.{name}", reasons.get(name))
        setattr(sys.modules[module_name], name, value)  # one object per name, so identity checks hold
        return value

    return __getattr__


def _is_submodule(module_name: str, name: str) -> bool:
    return f"{module_name}.{name}" in surface()


class _SurfaceLoader(importlib.abc.Loader):
    def create_module(self, spec):
        return None

    def exec_module(self, module):
        name = module.__name__
        module.__getattr__ = module_getattr(name, {n: reason_for(f"{name}.{n}") for n in surface().get(name, ())})
        module.__doc__ = f"Placeholder for ComfyUI's {name}: {reason_for(name)}."
        module.__comfy_placeholder__ = True


class SurfaceFinder(importlib.abc.MetaPathFinder):
    """Imports of ComfyUI modules we do not provide give modules of placeholders (see module doc).

    It sits at the end of ``sys.meta_path``, so our real modules (and the stand-ins of other
    helpers) are always found first."""

    _loader = _SurfaceLoader()

    def find_spec(self, fullname, path=None, target=None):
        is_package = any(m.startswith(fullname + ".") for m in surface())
        if fullname not in surface() and not is_package:  # (folders without __init__ are packages too)
            return None
        spec = importlib.machinery.ModuleSpec(fullname, self._loader, is_package=is_package)
        if is_package:
            spec.submodule_search_locations = []
        return spec


def install() -> None:
    if not any(isinstance(f, SurfaceFinder) for f in sys.meta_path):
        sys.meta_path.append(SurfaceFinder())


def missing_comfy_module(error: BaseException) -> str | None:
    """The ComfyUI module a ModuleNotFoundError is about, if it is one of ComfyUI's names."""
    name = getattr(error, "name", None) or ""
    roots = ("comfy", "comfy_extras", "comfy_api", "comfy_execution", "comfy_api_nodes", "nodes",
             "node_helpers", "latent_preview", "folder_paths", "server", "execution")
    return name if name.split(".")[0] in roots else None


__all__ = ["UnsupportedComfyAPI", "placeholder", "is_placeholder", "module_getattr", "SurfaceFinder", "install"]
