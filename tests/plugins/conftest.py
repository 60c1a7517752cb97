"""Fixtures for the custom node loader tests: fresh model folders and a registry with one built-in."""
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
