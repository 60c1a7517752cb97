"""Fixtures for model tests: reference manifests (from <repo>/../shared) and tiny checkpoints."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def shared_dir() -> Path | None:
    d = (REPO / ".." / "shared").resolve()
    return d if d.is_dir() else None


def load_manifest(name: str) -> dict:
    d = shared_dir()
    path = d / "reference" / "checkpoints" / f"{name}.json" if d else None
    if path is None or not path.is_file():
        pytest.skip(f"reference manifest {name}.json not available (no <repo>/../shared/reference/checkpoints)")
    return json.loads(path.read_text())


@pytest.fixture(scope="session")
def manifest():
    """``manifest(name) -> dict`` of reference/checkpoints/<name>.json; skips when shared/ is absent."""
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
