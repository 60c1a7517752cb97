"""Helpers for the custom node loader tests (a stand-in built-in node, pack writers)."""
from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "custom_nodes"


class CoreNode:
    """Stands for a built-in node: packs must not be able to replace it."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    CATEGORY = "core"

    def run(self):
        return (1,)


def write_pack(root: Path, name: str, body: str) -> Path:
    pack = root / name
    pack.mkdir(parents=True, exist_ok=True)
    (pack / "__init__.py").write_text(body)
    return pack


NODE_SOURCE = '''
class {cls}:
    @classmethod
    def INPUT_TYPES(cls):
        return {{"required": {{}}}}
    RETURN_TYPES = ("STRING",)
    FUNCTION = "run"
    def run(self):
        return ("{tag}",)
'''
