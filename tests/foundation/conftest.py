import importlib
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.fixture()
def pack():
    """The test node pack, imported fresh with its call counter reset."""
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    module = importlib.import_module("testpack")
    module.CALLS.clear()
    return module


@pytest.fixture()
def registry(pack):
    from core.execution.registry import NodeRegistry

    reg = NodeRegistry()
    for name, cls in pack.NODE_CLASS_MAPPINGS.items():
        reg.register(cls, name, display_name=pack.NODE_DISPLAY_NAME_MAPPINGS.get(name),
                     module="custom_nodes.testpack")
    return reg


@pytest.fixture()
def executor(registry):
    from core.execution.executor import Executor

    return Executor(registry)
