"""ComfyUI's ``comfy.model_patcher``: ``ModelPatcher`` is our MODEL handle (core.models.handles.ModelHandle).

Every MODEL a pack receives is a ModelHandle, which carries ComfyUI's patcher methods
(core/models/comfy_methods.py), so ``isinstance(model, ModelPatcher)`` holds. ``ModelPatcher(model,
load_device, offload_device)`` built by a pack around its own torch module gives a minimal patcher
that our device manager can load and offload (``comfy.model_management.load_models_gpu``).
"""
from __future__ import annotations

import copy

from core.compat.missing import module_getattr


class _PatcherMeta(type):
    def __instancecheck__(cls, obj):
        from core.models.handles import ModelHandle

        return isinstance(obj, ModelHandle) or type.__instancecheck__(cls, obj)


class ModelPatcher(metaclass=_PatcherMeta):
    """A plugin's own module wrapped for loading/offloading (not a diffusion model our sampler runs)."""

    def __init__(self, model, load_device, offload_device, size: int = 0, weight_inplace_update: bool = False):
        self.model = model
        self.load_device, self.offload_device = load_device, offload_device
        self.size = size or sum(p.numel() * p.element_size() for p in model.parameters()) \
            if hasattr(model, "parameters") else size
        self.patches: dict = {}
        self.object_patches: dict = {}
        self.model_options: dict = {"transformer_options": {}}
        self.device = load_device

    def clone(self):
        other = copy.copy(self)
        other.patches = {k: list(v) for k, v in self.patches.items()}
        other.model_options = copy.copy(self.model_options)
        return other

    def is_clone(self, other) -> bool:
        return getattr(other, "model", None) is self.model

    def model_size(self) -> int:
        return self.size

    def loaded_size(self) -> int:
        return self.size

    def model_dtype(self):
        return next(self.model.parameters()).dtype

    def get_model_object(self, name: str):
        if name in self.object_patches:
            return self.object_patches[name]
        obj = self.model
        for part in name.split("."):
            obj = getattr(obj, part)
        return obj

    def add_object_patch(self, name: str, obj) -> None:
        self.object_patches[name] = obj

    def add_patches(self, patches: dict, strength_patch: float = 1.0, strength_model: float = 1.0) -> list:
        from core.models.patcher import add_patches

        keys = {k for k, _ in self.model.state_dict().items()}
        return add_patches(self.patches, keys, patches, strength_patch, strength_model)

    # device manager hooks (core.devices.manager)
    def modules(self) -> list:
        return [self.model]

    def on_activate(self) -> None:
        from core.models.patcher import MergedPatches

        self._merged = MergedPatches.into_module(self.model, self.patches, "") if self.patches else None

    def on_deactivate(self) -> None:
        merged, self._merged = getattr(self, "_merged", None), None
        if merged is not None:
            merged.restore()

    def patch_model(self, device_to=None, *args, **kwargs):
        self.model.to(device_to or self.load_device)
        return self.model

    def unpatch_model(self, device_to=None, *args, **kwargs):
        self.model.to(device_to or self.offload_device)


__getattr__ = module_getattr(__name__)
