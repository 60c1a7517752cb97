"""Fixtures for the custom node loader tests: fresh model folders, a registry with one built-in, and the
ComfyUI-surface stand-in packs loaded beside the built-in nodes (``comfy_registry``)."""
from __future__ import annotations

import os
import shutil

import pytest

from packtools import FIXTURES, CoreNode


@pytest.fixture()
def folders(tmp_path):
    import core.paths

    previous = core.paths.get()
    configured = core.paths.configure(base=tmp_path / "base")
    yield configured
    core.paths.folders = previous


@pytest.fixture()
def registry():
    from core.execution.registry import NodeRegistry

    reg = NodeRegistry()
    reg.register(CoreNode, "CoreNode", module="nodes")
    return reg


@pytest.fixture()
def packs_dir(tmp_path):
    """A copy of the fixture custom_nodes folder (tests add packs to it freely)."""
    target = tmp_path / "custom_nodes"
    shutil.copytree(FIXTURES, target)
    os.environ.pop("THIRDPARTY_PRESTARTUP", None)
    yield target
    os.environ.pop("THIRDPARTY_PRESTARTUP", None)


@pytest.fixture(scope="session")
def comfy_registry(tmp_path_factory):
    """Built-in nodes + the stand-in packs of fixtures/comfy_packs, over folders with a tiny checkpoint."""
    import core.paths
    from comfypacks import build_environment

    previous = core.paths.get()
    registry = build_environment(tmp_path_factory.mktemp("comfy_base"))
    yield registry
    core.paths.folders = previous
