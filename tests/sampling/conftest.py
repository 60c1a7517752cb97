"""Fixtures for sampling tests: tiny checkpoints loaded on the CPU in float32, output folders per test."""
from __future__ import annotations


import pytest


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    """``tiny_models(family) -> (path, (model, clip, vae))``, each family written and loaded once."""
    from core import devices
    from core.models.checkpoint import load_checkpoint
    from core.models.tiny import write_tiny_checkpoint

    root = tmp_path_factory.mktemp("tiny_ckpt")
    made: dict = {}

    def make(family: str = "sd15"):
        if family not in made:
            devices.configure({"cpu": True, "force_fp32": True})
            path = write_tiny_checkpoint(root / f"tiny_{family}.safetensors", family, 0)
            made[family] = (path, load_checkpoint(path))
        return made[family]

    return make


@pytest.fixture()
def cpu_fp32():
    from core import devices

    devices.configure({"cpu": True, "force_fp32": True})
    yield devices
    devices.configure(None)


@pytest.fixture()
def folders(tmp_path):
    """Fresh models/output/temp folders for the test; restored afterwards."""
    from core import paths

    old = paths.get()
    f = paths.configure(base=tmp_path)
    yield f
    paths.folders = old
