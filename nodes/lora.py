"""LoRA loader nodes: add a LoRA file's weight patches to MODEL (and CLIP) clones.

The base handles are never changed: patches live on the clones and are merged only while a sampler
or text encoder runs (core.models.patcher), so removing the node leaves the weights bit-identical.
"""
from __future__ import annotations

import logging

from core import paths
from core.execution.spec import Combo, Float, In, Node, Output

log = logging.getLogger(__name__)


def _loras():
    return paths.get().get_filename_list("loras")


class _LoraFileCache:
    """The last LoRA file a node read, so changing only a strength does not read it again."""

    def __init__(self):
        self._path = None
        self._sd = None

    def load(self, node: str, lora_name: str) -> dict:
        from core.models.weights import load_file

        try:
            path = paths.get().get_full_path_or_raise("loras", lora_name)
        except FileNotFoundError as e:
            raise FileNotFoundError(f"{node}, input 'lora_name': {e}") from e
        if self._path != path:
            try:
                self._sd, _ = load_file(path)
            except ValueError as e:
                raise ValueError(f"{node}, input 'lora_name': {e}") from e
            self._path = path
        return self._sd


def _file_cache(node) -> _LoraFileCache:
    """The node's file cache; plugin subclasses whose __init__ skips ours get one on first use."""
    cache = getattr(node, "_cache", None)
    if cache is None:
        cache = node._cache = _LoraFileCache()
    return cache


class LoraLoader(Node):
    CATEGORY = "loaders"
    COMFY_FUNCTION = "load_lora"
    DISPLAY_NAME = "Load LoRA"
    INPUTS = (
        In("MODEL", "model"),
        In("CLIP", "clip"),
        Combo(name="lora_name", choices=_loras),
        Float(name="strength_model", default=1.0, min=-100.0, max=100.0, step=0.01),
        Float(name="strength_clip", default=1.0, min=-100.0, max=100.0, step=0.01),
    )
    OUTPUTS = (Output("MODEL"), Output("CLIP"))

    def __init__(self):
        self._cache = _LoraFileCache()

    def execute(self, model, clip, lora_name, strength_model, strength_clip):
        if strength_model == 0 and strength_clip == 0:
            return (model, clip)
        from core.models.lora import load_lora_for_models

        sd = _file_cache(self).load(type(self).__name__, lora_name)
        new_model, new_clip, _ = load_lora_for_models(model, clip, sd, strength_model, strength_clip,
                                                      name=f"LoraLoader {lora_name!r}")
        return (new_model, new_clip)


class LoraLoaderModelOnly(Node):
    CATEGORY = "loaders"
    COMFY_FUNCTION = "load_lora_model_only"
    DISPLAY_NAME = "LoraLoaderModelOnly"
    INPUTS = (
        In("MODEL", "model"),
        Combo(name="lora_name", choices=_loras),
        Float(name="strength_model", default=1.0, min=-100.0, max=100.0, step=0.01),
    )
    OUTPUTS = (Output("MODEL"),)

    def __init__(self):
        self._cache = _LoraFileCache()

    def execute(self, model, lora_name, strength_model):
        if strength_model == 0:
            return (model,)
        from core.models.lora import load_lora_for_models

        sd = _file_cache(self).load(type(self).__name__, lora_name)
        new_model, _, _ = load_lora_for_models(model, None, sd, strength_model, 0.0,
                                               name=f"LoraLoaderModelOnly {lora_name!r}")
        return (new_model,)


NODES = [LoraLoader, LoraLoaderModelOnly]
