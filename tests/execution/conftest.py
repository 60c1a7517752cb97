from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.fixture()
def registry():
    """The flowpack test pack, loaded by the real custom node loader (so its ComfyUI imports resolve)."""
    from core import custom_nodes
    from core.execution.registry import NodeRegistry

    reg = NodeRegistry()
    loaded = custom_nodes.load_custom_nodes(reg, [HERE / "packs"])
    assert loaded == ["flowpack"] and not reg.failures, reg.failures
    return reg


@pytest.fixture()
def calls():
    import sys

    counter = sys.modules["custom_nodes.flowpack"].CALLS
    counter.clear()
    return counter


@pytest.fixture()
def executor(registry):
    from core.execution.executor import Executor

    return Executor(registry)
