"""ComfyUI's ``comfy.samplers`` names for custom node packs (``KSampler.SAMPLERS``/``SCHEDULERS``).

The lists come from core.sampling on first access, so importing this module stays cheap.
"""
from __future__ import annotations


class _Names:
    def __init__(self, module: str, attr: str):
        self.module, self.attr = module, attr

    def __get__(self, obj, owner):
        import importlib

        return list(getattr(importlib.import_module(self.module), self.attr))


class KSampler:
    SAMPLERS = _Names("core.sampling.samplers", "SAMPLER_NAMES")
    SCHEDULERS = _Names("core.sampling.schedulers", "SCHEDULER_NAMES")


def __getattr__(name):
    if name == "SAMPLER_NAMES":
        return KSampler.SAMPLERS
    if name == "SCHEDULER_NAMES":
        return KSampler.SCHEDULERS
    raise AttributeError(f"module 'comfy.samplers' has no attribute {name!r}")
