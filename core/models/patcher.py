"""Weight patches (LoRA and friends) and merging them into a module with an exact restore.

Patch contract (what LoRA loaders produce, what ModelHandle/ClipHandle keep):

* ``handle.patches`` is ``{checkpoint key: [patch, ...]}``. Keys are the full LDM checkpoint key of
  the weight, e.g. ``"model.diffusion_model.input_blocks.1.1.proj_in.weight"`` (the same names as
  ``targets`` in reference/checkpoints/lora_*.json), so one LoRA file maps to keys without knowing
  module internals.
* A patch is either an object with ``delta(weight) -> tensor`` (any shape that reshapes to the
  weight's, computed in float32, strength already applied) or a tuple ``(strength, up, down)`` /
  ``(strength, up, down, alpha)`` meaning ``strength * (alpha / rank) * up @ down`` (rank =
  ``down.shape[0]``, alpha defaults to rank; conv LoRAs flatten to matrices and reshape back).
* Merging is ``W' = W + sum(deltas)`` computed in float32 and cast back to W's dtype; the original
  tensor of every patched key is kept (only those) and copied back bit for bit on restore.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

log = logging.getLogger(__name__)


@dataclass
class LowRankPatch:
    """``strength * (alpha / rank) * up @ down`` (Hu et al. 2021, LoRA eq. 3; alpha scaling as kohya-ss)."""

    strength: float
    up: torch.Tensor  # [out, r] or [out, r, 1, 1]
    down: torch.Tensor  # [r, in] or [r, in, kh, kw]
    alpha: float | None = None

    def delta(self, weight: torch.Tensor) -> torch.Tensor:
        rank = self.down.shape[0]
        scale = self.strength * ((self.alpha if self.alpha is not None else rank) / rank)
        up = self.up.to(weight.device, torch.float32).flatten(1)
        down = self.down.to(weight.device, torch.float32).flatten(1)
        return (scale * (up @ down)).reshape(weight.shape)


@dataclass
class DiffPatch:
    """A full-size difference: ``strength * diff`` (model merging, LyCORIS 'full')."""

    strength: float
    diff: torch.Tensor

    def delta(self, weight: torch.Tensor) -> torch.Tensor:
        return self.strength * self.diff.to(weight.device, torch.float32).reshape(weight.shape)


def as_patch(patch):
    if hasattr(patch, "delta"):
        return patch
    if isinstance(patch, (tuple, list)) and len(patch) in (3, 4):
        return LowRankPatch(float(patch[0]), patch[1], patch[2], None if len(patch) == 3 else patch[3])
    raise TypeError(f"not a weight patch: {type(patch).__name__} (need .delta(weight) or (strength, up, down[, alpha]))")


def resolve(module: torch.nn.Module, key: str, prefix: str) -> torch.Tensor | None:
    """The parameter of ``module`` that checkpoint key ``key`` names, or None."""
    if not key.startswith(prefix):
        return None
    name = key[len(prefix):]
    owner_name, _, attr = name.rpartition(".")
    try:
        owner = module.get_submodule(owner_name) if owner_name else module
    except AttributeError:
        return None
    t = getattr(owner, attr, None)
    return t if isinstance(t, torch.Tensor) else None


class MergedPatches:
    """Patches merged into a module; ``restore()`` puts back the exact original tensors."""

    def __init__(self, module: torch.nn.Module, patches: dict, prefix: str):
        self.backups: dict = {}
        with torch.no_grad():
            for key, plist in patches.items():
                weight = resolve(module, key, prefix)
                if weight is None or not plist:
                    continue
                self.backups[key] = (weight, weight.detach().clone())
                merged = weight.detach().float()
                for p in plist:
                    merged = merged + as_patch(p).delta(weight)
                weight.copy_(merged.to(weight.dtype))

    def restore(self) -> None:
        with torch.no_grad():
            for weight, original in self.backups.values():
                weight.copy_(original)
        self.backups.clear()
