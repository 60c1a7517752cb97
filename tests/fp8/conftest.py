"""Fixtures for the fp8 storage and streaming tests: the CPU in float32, fresh model folders per test."""
from __future__ import annotations

import pytest


@pytest.fixture()
def cpu_fp32():
    from core import devices

    devices.configure({"cpu": True, "force_fp32": True})
    yield devices
    devices.configure(None)


@pytest.fixture()
def folders(tmp_path):
    from core import paths

    old = paths.get()
    f = paths.configure(base=tmp_path)
    yield f
    paths.folders = old


@pytest.fixture()
def tiny_sd15(tmp_path):
    from core.models.tiny import write_tiny_checkpoint

    return write_tiny_checkpoint(tmp_path / "tiny_sd15.safetensors", "sd15")
