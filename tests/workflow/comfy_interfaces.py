"""Interfaces (inputs and outputs only) of ComfyUI core nodes that the subgraph template tests name but
Latentflow does not implement yet; the conversion needs only their widget layout (docs/comfy-api.md §3.4).

Written from ComfyUI's INPUT_TYPES / io.Schema declarations (comfy_extras/nodes_sd3.py,
nodes_model_advanced.py, nodes_flux.py, nodes_images.py, nodes_model_patch.py, nodes_edit_model.py and
nodes.py): the names, types, options and defaults are facts of that public interface.
"""
from __future__ import annotations

MAX = 16384


class _Interface:
    FUNCTION = "run"
    CATEGORY = "test/comfy-interface"

    def run(self, **kw):
        raise NotImplementedError(f"{type(self).__name__} is an interface stand-in for conversion tests")


def _interface(name, required, optional=None, returns=()):
    inputs = {"required": required, **({"optional": optional} if optional else {})}
    return type(name, (_Interface,), {"INPUT_TYPES": classmethod(lambda cls: inputs), "RETURN_TYPES": returns})


SIZE = {"min": 16, "max": MAX, "step": 16}
INTERFACES = [
    _interface("EmptySD3LatentImage", {"width": ("INT", {"default": 1024, **SIZE}),
                                       "height": ("INT", {"default": 1024, **SIZE}),
                                       "batch_size": ("INT", {"default": 1, "min": 1, "max": 4096})}, returns=("LATENT",)),
    _interface("ModelSamplingAuraFlow", {"model": ("MODEL",),
                                         "shift": ("FLOAT", {"default": 1.73, "min": 0.0, "max": 100.0, "step": 0.01})},
               returns=("MODEL",)),
    _interface("CLIPVisionLoader", {"clip_name": ([],)}, returns=("CLIP_VISION",)),
    _interface("CLIPVisionEncode", {"clip_vision": ("CLIP_VISION",), "image": ("IMAGE",),
                                    "crop": (["center", "none"],)}, returns=("CLIP_VISION_OUTPUT",)),
    _interface("FluxGuidance", {"conditioning": ("CONDITIONING",),
                                "guidance": ("FLOAT", {"default": 3.5, "min": 0.0, "max": 100.0, "step": 0.1})},
               returns=("CONDITIONING",)),
    _interface("FluxKontextMultiReferenceLatentMethod",
               {"conditioning": ("CONDITIONING",), "reference_latents_method": (["offset", "index", "uxo/uno"],)},
               returns=("CONDITIONING",)),
    _interface("ImageScaleToMaxDimension",
               {"image": ("IMAGE",),
                "upscale_method": (["area", "lanczos", "bilinear", "nearest-exact", "bilinear", "bicubic"],),
                "largest_size": ("INT", {"default": 512, "min": 0, "max": MAX, "step": 1})}, returns=("IMAGE",)),
    _interface("ModelPatchLoader", {"name": ([],)}, returns=("MODEL_PATCH",)),
    _interface("USOStyleReference", {"model": ("MODEL",), "model_patch": ("MODEL_PATCH",),
                                     "clip_vision_output": ("CLIP_VISION_OUTPUT",)}, returns=("MODEL",)),
    _interface("ReferenceLatent", {"conditioning": ("CONDITIONING",)}, {"latent": ("LATENT",)},
               returns=("CONDITIONING",)),
]


def template_object_info() -> dict:
    """/object_info of the built-in nodes plus the interfaces above (built-in classes win)."""
    from core.execution.registry import NodeRegistry
    from nodes import register_builtin_nodes

    registry = NodeRegistry()
    register_builtin_nodes(registry)
    known = set(registry.object_info())
    for cls in INTERFACES:
        if cls.__name__ not in known:
            registry.register(cls, module="tests.comfy_interfaces")
    return registry.object_info()
