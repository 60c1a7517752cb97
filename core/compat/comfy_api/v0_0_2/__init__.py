"""``comfy_api.v0_0_2``: the versioned API object packs call for progress (``api.execution.set_progress``).

As in ComfyUI, version 0.0.2 is the latest API under its own version number: ``ComfyAPI`` (coroutine
methods, for async nodes) is ``comfy_api.latest``'s, and ``io``, ``ui``, ``ComfyExtension`` and the type
namespaces are re-exported. ``ComfyAPISync`` reports at once through the running job's progress context
(core.execution.progress): sync nodes run inside the executor's event loop, so it cannot hand a
coroutine to that loop and wait for it.
"""
from __future__ import annotations

from comfy_api.latest import ComfyAPI_latest, ComfyExtension, Input, InputImpl, Types, io, ui  # noqa: F401
from core.execution import progress


class ComfyAPIAdapter_v0_0_2(ComfyAPI_latest):  # noqa: N801 (ComfyUI's name)
    VERSION = "0.0.2"
    STABLE = False


ComfyAPI = ComfyAPIAdapter_v0_0_2


class _SyncExecution:
    def set_progress(self, value: float, max_value: float, node_id: str | None = None, preview_image=None,
                     ignore_size_limit: bool = False) -> None:
        ctx = progress.current()
        if node_id is None and (ctx is None or ctx.node_id is None):
            raise ValueError("set_progress: node_id must be given outside a running node")
        bar = progress.ProgressBar(max_value, node_id=node_id)
        bar.update_absolute(value, preview=_as_pil(preview_image))


def _as_pil(image):
    """A PIL image for the preview channel, from a PIL image or an IMAGE tensor (first of a batch)."""
    if image is None or hasattr(image, "save"):
        return image
    import numpy as np
    from PIL import Image

    frame = image[0] if len(image.shape) == 4 else image
    return Image.fromarray((frame.detach().cpu().clamp(0, 1).numpy() * 255).astype(np.uint8))


class ComfyAPISync:
    """The same API with plain (blocking) methods."""

    VERSION = "0.0.2"
    STABLE = False

    def __init__(self):
        self.execution = _SyncExecution()


__all__ = ["ComfyAPI", "ComfyAPISync", "Input", "InputImpl", "Types", "ComfyExtension", "io", "ui"]
