"""Diffusion jobs for the server tests: a tiny SD1.5 checkpoint and the default txt2img prompt made small.

Imported by name (``import tinyjobs``) from tests/server; the checkpoint is written with seeded random
weights in the released key layout (core/models/tiny.py), so no download is needed.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

CKPT_NAME = "tiny_sd15.safetensors"


def write_checkpoint(models_dir: Path) -> Path:
    """``models_dir/checkpoints/tiny_sd15.safetensors``."""
    from core.models.tiny import write_tiny_checkpoint

    return write_tiny_checkpoint(Path(models_dir) / "checkpoints" / CKPT_NAME, "sd15")


def txt2img_prompt(steps: int = 3, size: int = 64, seed: int = 1) -> dict:
    """ComfyUI's default workflow (API format) on the tiny checkpoint: KSampler is node "3"."""
    from tests.testdata import workflow

    prompt = copy.deepcopy(json.loads(workflow("default.api.derived.json").read_text()))
    prompt["4"]["inputs"]["ckpt_name"] = CKPT_NAME
    prompt["3"]["inputs"].update(steps=steps, seed=seed)
    prompt["5"]["inputs"].update(width=size, height=size)
    return prompt


def builtin_registry():
    """The built-in nodes, as ``main.py`` registers them (no custom node packs)."""
    import nodes
    from core.execution.registry import NodeRegistry

    registry = NodeRegistry()
    nodes.register_builtin_nodes(registry)
    return registry
