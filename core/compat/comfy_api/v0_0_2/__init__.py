"""``comfy_api.v0_0_2``: the versioned API object packs call for progress (``api.execution.set_progress``).

``ComfyAPI`` has coroutine methods for async nodes, ``ComfyAPISync`` the same methods for plain ones.
Both report through the running job's progress context (core.execution.progress), so the value reaches
the ``progress`` and ``progress_state`` websocket messages of the node being run. The V3 node API
(``io``, ``ui``, ``ComfyExtension``) is re-exported from ``comfy_api.latest`` when that is installed.
"""
from __future__ import annotations

from core.execution import progress


def _set_progress(value, max_value, node_id=None, preview_image=None, ignore_size_limit=False) -> None:
    ctx = progress.current()
    if node_id is None and ctx is not None:
        node_id = ctx.node_id
    if node_id is None:
        raise ValueError("set_progress: node_id must be given outside a running node")
    if ctx is None:
        return  # nothing is running: there is no one to tell
    if ctx.interrupt.is_set():
        raise progress.Interrupted()
    if preview_image is not None and ctx.emit_preview is not None:
        ctx.emit_preview(node_id, _as_pil(preview_image))
    ctx.emit("progress", {"value": value, "max": max_value, "prompt_id": ctx.prompt_id, "node": node_id})


def _as_pil(image):
    """A PIL image, or the first image of an IMAGE tensor ([B, H, W, C] floats in 0..1)."""
    if hasattr(image, "save"):
        return image
    import numpy as np
    from PIL import Image

    tensor = image[0] if len(image.shape) == 4 else image
    return Image.fromarray((tensor.detach().cpu().clamp(0, 1).numpy() * 255).astype(np.uint8))


class ComfyAPI:
    VERSION = "0.0.2"
    STABLE = False

    class Execution:
        async def set_progress(self, value: float, max_value: float, node_id: str | None = None,
                               preview_image=None, ignore_size_limit: bool = False) -> None:
            _set_progress(value, max_value, node_id, preview_image, ignore_size_limit)

    def __init__(self):
        self.execution = self.Execution()


class ComfyAPISync:
    VERSION = "0.0.2"
    STABLE = False

    class Execution:
        def set_progress(self, value: float, max_value: float, node_id: str | None = None,
                         preview_image=None, ignore_size_limit: bool = False) -> None:
            _set_progress(value, max_value, node_id, preview_image, ignore_size_limit)

    def __init__(self):
        self.execution = self.Execution()


try:  # the V3 API, where comfy_api.latest provides it
    from comfy_api.latest import ComfyExtension, io, ui  # noqa: F401
except ImportError:
    pass

__all__ = ["ComfyAPI", "ComfyAPISync"]
