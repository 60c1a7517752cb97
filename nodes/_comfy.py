"""The names plugins use from ComfyUI's ``nodes`` module, served by our ``nodes`` package.

Packs write ``import nodes`` then ``nodes.KSampler().sample(...)``, ``class X(nodes.LoraLoader)``,
``nodes.common_ksampler(...)``, ``nodes.EXTENSION_WEB_DIRS`` or ``from nodes import SaveImage``.
``nodes/__init__.py`` forwards unknown attribute names here (module ``__getattr__``), so importing
``nodes`` stays cheap and every built-in class, whichever module of the package declares it, is
``nodes.<ClassName>``. The underscore keeps this module out of the node-module scan.
"""
from __future__ import annotations

import functools
import importlib
import json
from pathlib import Path

import nodes as _package
from core.compat.missing import UnsupportedComfyAPI, is_placeholder, placeholder

NAMES_FILE = Path(__file__).resolve().parent / "comfy_names.json"

# ComfyUI's nodes.py globals that packs read or fill (web folders by pack, module folders by pack)
EXTENSION_WEB_DIRS: dict = {}
LOADED_MODULE_DIRS: dict = {}


@functools.cache
def _names_file() -> dict:
    return json.loads(NAMES_FILE.read_text(encoding="utf-8"))


@functools.cache
def comfy_names() -> dict:
    """ComfyUI module name ('nodes', 'comfy_extras.nodes_mask', ...) -> its top-level names."""
    return {module: frozenset(names) for module, names in _names_file()["modules"].items()}


def comfy_module_nodes(module: str) -> dict:
    """Our built-in node classes ComfyUI keeps in ``module``: {ComfyUI's class name there: (node id, class)}.

    ComfyUI's class name is usually the node id; where it differs (``nodes_rebatch.ImageRebatch`` is
    node ``RebatchImages``) the names file says so.
    """
    renamed = _names_file().get("node_classes", {}).get(module, {})
    ours = builtin_classes()
    found = {}
    for name in comfy_names().get(module, ()):
        node_id = renamed.get(name, name)
        if node_id in ours:
            found[name] = (node_id, ours[node_id])
    return found


# One mechanism for ComfyUI names we lack, shared with every compat module (core/compat/missing.py).
MissingComfyName = UnsupportedComfyAPI


@functools.cache
def missing(module: str, name: str) -> type:
    """A stand-in for ComfyUI's ``module.name`` that Latentflow lacks: importing it works, so the rest of
    the plugin loads; calling or instantiating it (or reading attributes off it) raises, naming it."""
    return placeholder(f"{module}.{name}")


is_missing = is_placeholder


def module_attribute(module: str, name: str, ours: dict):
    """``module.name`` for a ComfyUI module stand-in: ours when we have it, else a placeholder for a name
    ComfyUI's module has, else AttributeError (ComfyUI itself would fail)."""
    if name in ours:
        return ours[name]
    if name in comfy_names().get(module, ()):
        return missing(module, name)
    raise AttributeError(f"module {module!r} has no attribute {name!r} (nor has ComfyUI's)")


def builtin_classes() -> dict:
    """Node id (our class name) -> built-in node class, over every node module of the package."""
    found = {}
    for name in _package.builtin_modules():
        module = importlib.import_module(f"{_package.__name__}.{name}")
        for cls in getattr(module, "NODES", ()):
            found[cls.__name__] = cls
    return found


def common_ksampler(model, seed, steps, cfg, sampler_name, scheduler, positive, negative, latent, denoise=1.0,
                    disable_noise=False, start_step=None, last_step=None, force_full_denoise=False):
    """ComfyUI's ``nodes.common_ksampler``: one sampling run, returned as ``(latent_dict,)`` like KSampler."""
    from core.sampling.names import SAMPLER_NAMES, SCHEDULER_NAMES
    from core.sampling.sample import common_ksampler as sample

    if sampler_name not in SAMPLER_NAMES:
        raise ValueError(f"common_ksampler: unknown sampler_name {sampler_name!r} (known: {', '.join(SAMPLER_NAMES)})")
    if scheduler not in SCHEDULER_NAMES:
        raise ValueError(f"common_ksampler: unknown scheduler {scheduler!r} (known: {', '.join(SCHEDULER_NAMES)})")
    if not isinstance(latent, dict) or "samples" not in latent:
        raise ValueError(f"common_ksampler: latent must be a LATENT dict with 'samples', got {type(latent).__name__}")
    return (sample(model, seed, steps, cfg, sampler_name, scheduler, positive, negative, latent, denoise=denoise,
                   disable_noise=disable_noise, start_step=start_step, last_step=last_step,
                   force_full_denoise=force_full_denoise, node="common_ksampler"),)


def before_node_execution():
    """Raises the interrupt exception when the user interrupted the running job (ComfyUI calls it per node)."""
    from core.execution.progress import check_interrupt

    check_interrupt()


def interrupt_processing(value=True):
    """Request (or with ``False`` withdraw) an interrupt of the running job."""
    from core.execution import progress

    job = progress.current()
    if job is not None:
        job.interrupt.set() if value else job.interrupt.clear()


_FUNCTIONS = {f.__name__: f for f in (common_ksampler, before_node_execution, interrupt_processing)}
_DATA = {"EXTENSION_WEB_DIRS": EXTENSION_WEB_DIRS, "LOADED_MODULE_DIRS": LOADED_MODULE_DIRS}


def attribute(name: str):
    """``nodes.<name>`` for a name the package itself does not define; cached on the package after."""
    if name in _FUNCTIONS:
        value = _FUNCTIONS[name]
    elif name in _DATA:
        value = _DATA[name]
    else:
        value = module_attribute("nodes", name, builtin_classes())
    if not is_missing(value):
        setattr(_package, name, value)
    return value


def names() -> list:
    """Everything ``nodes.<name>`` can give (for ``dir(nodes)`` and ``from nodes import *``)."""
    return sorted(set(_FUNCTIONS) | set(_DATA) | set(builtin_classes()) | comfy_names()["nodes"])
