"""Fixtures for the workflow-format tests: a small node catalogue written in the classic interface."""
from __future__ import annotations

import pytest


class _Classic:
    RETURN_TYPES = ()
    FUNCTION = "run"
    CATEGORY = "test"

    def run(self, **kw):
        return ()


def _node(name, required, optional=None, returns=(), display=None):
    inputs = {"required": required}
    if optional:
        inputs["optional"] = optional
    cls = type(name, (_Classic,), {"INPUT_TYPES": classmethod(lambda c: inputs), "RETURN_TYPES": returns})
    return cls, display


CATALOGUE = [
    _node("Loader", {"ckpt_name": (["a.safetensors", "b.safetensors"],)}, returns=("MODEL", "CLIP"),
          display="Load Model"),
    _node("Encode", {"clip": ("CLIP",), "text": ("STRING", {"multiline": True, "dynamicPrompts": True})},
          returns=("CONDITIONING",), display="Encode Text"),
    _node("Sampler", {"model": ("MODEL",), "seed": ("INT", {"default": 0, "control_after_generate": True}),
                      "steps": ("INT", {"default": 20, "min": 1}), "cfg": ("FLOAT", {"default": 8.0}),
                      "positive": ("CONDITIONING",)},
          {"mask": ("MASK",), "label": ("STRING", {"default": "x"})}, returns=("LATENT",)),
    _node("OldSeed", {"seed": ("INT", {"default": 1}), "steps": ("INT", {"default": 4})}, returns=("INT",)),
    _node("ImageIn", {"image": (["a.png", "b.png"], {"image_upload": True}), "upscale": ("BOOLEAN", {"default": False})},
          returns=("IMAGE", "MASK")),
    _node("Save", {"images": ("IMAGE",), "filename_prefix": ("STRING", {"default": "out"})}),
    _node("Multi", {"tags": ("COMBO", {"options": ["a", "b", "c"], "multi_select": True, "default": ["a"]})},
          returns=("STRING",)),
    _node("Swap", {"model": ("MODEL",), "clip": ("CLIP",)}, returns=("CLIP", "MODEL")),
    _node("Forced", {"value": ("INT", {"default": 3, "forceInput": True}), "n": ("INT", {"default": 2})},
          returns=("INT",)),
]


@pytest.fixture(scope="session")
def object_info() -> dict:
    from core.execution.registry import NodeRegistry

    registry = NodeRegistry()
    for cls, display in CATALOGUE:
        registry.register(cls, display_name=display, module="tests.workflow")
    return registry.object_info()
