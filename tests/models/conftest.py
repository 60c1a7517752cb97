"""Fixtures for model tests: reference manifests (tests/data) and tiny checkpoints."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.testdata import manifest as load_manifest


@pytest.fixture(scope="session")
def manifest():
    """``manifest(name) -> dict`` of tests/data/reference/checkpoints/<name>.json."""
    return load_manifest


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """``tiny_checkpoint(family, seed=0) -> Path``: written once per session per (family, seed)."""
    from core.models.tiny import write_tiny_checkpoint

    root = tmp_path_factory.mktemp("tiny_checkpoints")
    made: dict = {}

    def make(family: str = "sd15", seed: int = 0) -> Path:
        key = (family, seed)
        if key not in made:
            made[key] = write_tiny_checkpoint(root / f"tiny_{family}_{seed}.safetensors", family, seed)
        return made[key]

    return make


@pytest.fixture()
def cpu_fp32():
    """Device policy pinned to the CPU in float32 for the test, reset afterwards."""
    from core import devices

    devices.configure({"cpu": True, "force_fp32": True})
    yield devices
    devices.configure(None)
