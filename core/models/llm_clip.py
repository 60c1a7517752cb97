"""The CLIP value of a text encoder that is one language model (Qwen3, Mistral-Small-3.2): what every such
encoder shares — its module under the file's ``model.`` names, weight patches merged while active, the
device-manager hooks and ComfyUI's encode/tokens entry points. Subclasses give ``tokenize`` and
``encode_from_tokens``."""
from __future__ import annotations

import copy
from types import SimpleNamespace

from core.models.comfy_methods import ClipMethods


class LanguageModelClip(ClipMethods):
    key = "llm"  # ComfyUI's token-dict key for this encoder

    def __init__(self, model):
        self.model = model
        # what ClipMethods.cond_stage_model reads: each encoder's module under its token key
        self.encoders = [SimpleNamespace(role=SimpleNamespace(name=self.key), model=model)]
        self.layer_idx: int | None = None
        self.patches: dict = {}
        self.device = None  # None: the compute device (CLIPLoader's device="cpu" sets cpu)

    def clone(self):
        other = copy.copy(self)
        other.patches = {k: list(v) for k, v in self.patches.items()}
        return other

    def encode_from_tokens_scheduled(self, tokens: dict, add_dict: dict | None = None) -> list:
        return [[self.encode_from_tokens(tokens), {"pooled_output": None, **(add_dict or {})}]]

    def encode(self, text: str) -> list:
        """CONDITIONING ``[[features, {"pooled_output": None}]]`` for ``text``."""
        return self.encode_from_tokens_scheduled(self.tokenize(text))

    # --- weights in the file's naming (LoRA patches, CheckpointSave) -------------------------------
    def state_dict(self) -> dict:
        return {"model." + k: v for k, v in self.model.state_dict().items()}

    def checkpoint_keys(self) -> list:
        return list(self.state_dict())

    def add_patches(self, patches: dict, strength_patch: float = 1.0, strength_model: float = 1.0) -> list:
        from core.models.patcher import add_patches

        return add_patches(self.patches, set(self.checkpoint_keys()), patches, strength_patch, strength_model)

    # --- device manager hooks (core.devices.manager.activate) -----------------------------------
    def modules(self) -> list:
        return [self.model]

    def on_activate(self) -> None:
        from core.models.patcher import MergedPatches

        self._merged = None
        if self.patches:
            params = dict(self.model.named_parameters())
            self._merged = MergedPatches(self.patches, lambda key: [params[key[len("model."):]]])

    def on_deactivate(self) -> None:
        merged, self._merged = getattr(self, "_merged", None), None
        if merged is not None:
            merged.restore()
