"""``comfy.comfy_types``: IO type names, InputTypeDict and the ComfyNodeABC base for classic nodes."""
from __future__ import annotations

from typing import Callable, List, Optional, Protocol, TypedDict

from .node_typing import IO, CheckLazyMixin, ComfyNodeABC, FileLocator, InputTypeDict  # noqa: F401


class UnetApplyFunction(Protocol):
    """``apply_model(x, t, **kwargs)`` of a diffusion model."""

    def __call__(self, x, t, **kwargs):
        ...


class UnetApplyConds(TypedDict):
    c_concat: Optional[object]
    c_crossattn: Optional[object]
    control: Optional[object]
    transformer_options: Optional[dict]


class UnetParams(TypedDict):
    input: object  # [B, C, H, W]
    timestep: object  # [B]
    c: UnetApplyConds
    cond_or_uncond: List[int]  # 0: conditional, 1: unconditional, per batch chunk


UnetWrapperFunction = Callable[[UnetApplyFunction, UnetParams], object]

__all__ = ["UnetWrapperFunction", "UnetApplyConds", "UnetParams", "UnetApplyFunction", "IO", "InputTypeDict",
           "ComfyNodeABC", "CheckLazyMixin", "FileLocator"]
