"""Stand-in for ComfyUI's ``comfy`` package: its plugin-facing modules over our engine (docs/custom_nodes.md).

ComfyUI modules we do not provide are importable too: their names fail when used (core/compat/missing.py).
"""
from core.compat.missing import module_getattr

__getattr__ = module_getattr(__name__)
