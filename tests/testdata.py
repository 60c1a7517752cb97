"""Where the suite's reference data lives: ``tests/data/`` (tests/data/README.md gives each file's source).

The data is part of the repository, so a clean clone tests fully on its own; a missing file is an error,
never a skip.
"""
from __future__ import annotations

import json
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
MANIFESTS = DATA / "reference" / "checkpoints"
CLIP_TOKENS = DATA / "reference" / "clip_tokens.json"
WORKFLOWS = DATA / "workflows"
COMFY_NODE_INTERFACES = DATA / "comfy_node_interfaces.json"


def manifest(name: str) -> dict:
    """The key/shape manifest ``tests/data/reference/checkpoints/<name>.json``."""
    return json.loads((MANIFESTS / f"{name.removesuffix('.json')}.json").read_text())


def clip_tokens() -> dict:
    """Prompt -> the original OpenAI CLIP tokenizer's ids."""
    return json.loads(CLIP_TOKENS.read_text(encoding="utf-8"))


def workflow(name: str) -> Path:
    """A file of ``tests/data/workflows/``; fails (never skips) when it is missing."""
    path = WORKFLOWS / name
    if not path.is_file():
        raise FileNotFoundError(f"test workflow {path} is missing from the repository")
    return path


def comfy_node_interfaces() -> dict:
    """ComfyUI's built-in node interfaces: name -> {module, FUNCTION, RETURN_TYPES, inputs, ...}."""
    return json.loads(COMFY_NODE_INTERFACES.read_text(encoding="utf-8"))["nodes"]
