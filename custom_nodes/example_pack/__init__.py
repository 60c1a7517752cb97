"""Latentflow example custom node pack, written in ComfyUI's classic node interface.

Copy this folder next to it under ``custom_nodes/`` to start your own pack; see README.md.
"""
from .batch_tools import ImageBatchGrid, LatentBatchPick

NODE_CLASS_MAPPINGS = {
    "ImageBatchGrid": ImageBatchGrid,
    "LatentBatchPick": LatentBatchPick,
}

NODE_DISPLAY_NAME_MAPPINGS = {
    "ImageBatchGrid": "Image Batch to Grid",
    "LatentBatchPick": "Pick Latents from Batch",
}

# Browser extension files (served at /extensions/example_pack/).
WEB_DIRECTORY = "./web"

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
