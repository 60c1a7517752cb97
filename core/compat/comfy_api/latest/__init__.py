"""``comfy_api.latest``: ComfyUI's V3 custom-node API over our registry and executor.

A pack module defines ``async def comfy_entrypoint()`` returning a :class:`ComfyExtension` whose
``get_node_list()`` gives ``io.ComfyNode`` classes; core.execution.registry.v3_extension_nodes turns
them into classic registrations (the node ids of their schemas), so they show in /object_info and run
in our executor like any other node.
"""
from __future__ import annotations

import asyncio

import torch

from . import _io as io
from . import _ui as ui

comfy_io = io  # ComfyUI's second name for it


class ComfyExtension:
    """What ``comfy_entrypoint`` returns: ``on_load`` runs once, ``get_node_list`` gives the node classes."""

    async def on_load(self) -> None:
        return None

    async def get_node_list(self) -> list:
        raise NotImplementedError(f"{type(self).__name__} defines no get_node_list()")


class _Execution:
    async def set_progress(self, value: float, max_value: float, node_id: str | None = None, preview_image=None,
                           ignore_size_limit: bool = False) -> None:
        """Report progress of the running node (or ``node_id``) to the frontend."""
        from core.execution.progress import ProgressBar, current

        job = current()
        if node_id is None and (job is None or job.node_id is None):
            raise ValueError("set_progress: node_id must be given outside a running node")
        bar = ProgressBar(max_value, node_id=node_id)
        bar.update_absolute(value, preview=_preview(preview_image))


def _preview(image):
    """A PIL image for the preview channel, from a PIL image or an IMAGE tensor (first of a batch)."""
    if image is None or not isinstance(image, torch.Tensor):
        return image
    from PIL import Image

    frame = image[0] if image.ndim == 4 else image
    return Image.fromarray((frame.clamp(0, 1) * 255).byte().cpu().numpy())


class ComfyAPI_latest:  # noqa: N801 (ComfyUI's name)
    VERSION = "latest"
    STABLE = False

    def __init__(self):
        self.execution = _Execution()


class _SyncExecution:
    def __init__(self, inner: _Execution):
        self._inner = inner

    def set_progress(self, *args, **kwargs) -> None:
        coro = self._inner.set_progress(*args, **kwargs)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(coro)
        # Sync nodes run inside the executor's event loop, where a blocking call cannot wait on the loop;
        # _Execution.set_progress never suspends, so it is stepped to its end right here.
        try:
            coro.send(None)
        except StopIteration:
            return None
        coro.close()
        raise RuntimeError("set_progress suspended inside a running event loop")


class ComfyAPISync:
    """The same API with plain (blocking) methods."""

    VERSION = "latest"
    STABLE = False

    def __init__(self):
        self.execution = _SyncExecution(_Execution())


ComfyAPI = ComfyAPI_latest


class Input:
    """Type names for annotations: tensors, latent and audio dicts (no video decoding in Latentflow)."""

    Image = torch.Tensor
    Mask = torch.Tensor
    Latent = dict
    Audio = dict
    Video = object


class InputImpl:
    """Video containers: Latentflow decodes no video, so these raise, naming themselves, when used."""

    VideoFromFile = io._missing("InputImpl.VideoFromFile", "comfy_api.latest")
    VideoFromComponents = io._missing("InputImpl.VideoFromComponents", "comfy_api.latest")


class Types:
    VideoCodec = io._missing("Types.VideoCodec", "comfy_api.latest")
    VideoContainer = io._missing("Types.VideoContainer", "comfy_api.latest")
    VideoComponents = io._missing("Types.VideoComponents", "comfy_api.latest")


def __getattr__(name):
    """Other names of later ComfyUI releases import as stand-ins that raise when used."""
    if name.startswith("__"):
        raise AttributeError(name)
    return io._missing(name, "comfy_api.latest")


__all__ = ["ComfyAPI", "ComfyAPISync", "ComfyAPI_latest", "ComfyExtension", "Input", "InputImpl", "Types", "io",
           "ui", "comfy_io"]
