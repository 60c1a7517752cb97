"""Latent nodes of ComfyUI's current core beyond nodes/latent.py: cutting a latent along an axis, and
the empty 16-channel latent that SD3/FLUX-style workflows start from."""
from __future__ import annotations

from core.execution.spec import MAX_RESOLUTION, Combo, In, Int, Node, Output


class LatentCut(Node):
    COMFY_V3 = True  # ComfyUI declares it with its V3 API
    CATEGORY = "latent/advanced"
    DISPLAY_NAME = "LatentCut"
    INPUTS = (In("LATENT", "samples"), Combo("dim", choices=["x", "y", "t"]),
              Int("index", default=0, min=-MAX_RESOLUTION, max=MAX_RESOLUTION, step=1),
              Int("amount", default=1, min=1, max=MAX_RESOLUTION, step=1))
    OUTPUTS = (Output("LATENT"),)

    def execute(self, samples, dim, index, amount):
        x = samples["samples"]
        axis = x.ndim - {"x": 1, "y": 2, "t": 3}[dim]
        if axis < 0:
            raise ValueError(f"LatentCut, input 'dim': a {x.ndim}-D latent has no {dim!r} axis")
        size = x.shape[axis]
        if index >= 0:  # from the start, clamped to the last position
            index = min(index, size - 1)
            amount = min(size - index, amount)
        else:  # a negative index counts from the end
            index = max(index, -size)
            amount = min(-index, amount)
            index += size
        return ({**samples, "samples": x.narrow(axis, index, amount)},)


class EmptySD3LatentImage(Node):
    COMFY_V3 = True  # ComfyUI declares it with its V3 API
    CATEGORY = "latent/sd3"
    DISPLAY_NAME = "EmptySD3LatentImage"
    INPUTS = (Int("width", default=1024, min=16, max=MAX_RESOLUTION, step=16),
              Int("height", default=1024, min=16, max=MAX_RESOLUTION, step=16),
              Int("batch_size", default=1, min=1, max=4096))
    OUTPUTS = (Output("LATENT"),)

    def execute(self, width, height, batch_size=1):
        import torch

        return ({"samples": torch.zeros(batch_size, 16, height // 8, width // 8)},)


NODES = [LatentCut, EmptySD3LatentImage]
