"""Helpers for the ComfyUI-surface tests: the stand-in packs, a tiny checkpoint, workflows run end to end."""
from __future__ import annotations

import sys
from pathlib import Path

COMFY_PACKS = Path(__file__).resolve().parent / "fixtures" / "comfy_packs"
CKPT = "tiny_sd15.safetensors"


def build_environment(base: Path):
    """Folders under ``base`` with a tiny SD1.5 checkpoint; a registry with built-ins and every stand-in pack."""
    import core.paths
    import nodes
    from core.custom_nodes import load_custom_nodes
    from core.execution.registry import NodeRegistry
    from core.models.tiny import write_tiny_checkpoint

    folders = core.paths.configure(base=base)
    write_tiny_checkpoint(Path(folders.models_dir) / "checkpoints" / CKPT, "sd15")
    registry = NodeRegistry()
    nodes.register_builtin_nodes(registry)
    load_custom_nodes(registry, [COMFY_PACKS])
    return registry


def run(registry, prompt: dict):
    """Execute an API-format prompt; returns (result, values seen by Probe nodes)."""
    from core.execution.executor import Executor

    probe = sys.modules["custom_nodes.probe_pack"]
    probe.SEEN.clear()
    result = Executor(registry, cache="none").execute(prompt)
    return result, dict(probe.SEEN)


def probe(source: str, slot: int = 0, label: str = "out") -> dict:
    return {"class_type": "Probe", "inputs": {"value": [source, slot], "label": label}}


def txt2img_nodes(seed: int = 7, steps: int = 3, cfg: float = 5.0, sampler: str = "euler",
                  scheduler: str = "normal", model_source=("1", 0)) -> dict:
    """Built-in txt2img (checkpoint -> encode -> KSampler), the reference the packs are compared against."""
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": CKPT}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["1", 1], "text": "a cat"}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["1", 1], "text": ""}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "5": {"class_type": "KSampler", "inputs": {
            "model": list(model_source), "seed": seed, "steps": steps, "cfg": cfg, "sampler_name": sampler,
            "scheduler": scheduler, "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["4", 0],
            "denoise": 1.0}},
    }
