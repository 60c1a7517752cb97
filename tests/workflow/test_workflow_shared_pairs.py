"""Every shared UI workflow converts to its derived API form with the real built-in node catalogue."""
from __future__ import annotations

import json

import pytest

from tests.testdata import WORKFLOWS

PAIRS = sorted(WORKFLOWS.glob("*.ui.json"))


def _strip(prompt: dict) -> dict:
    """Drop _meta (titles may differ, tests/data/workflows/index.md); dict equality ignores key order."""
    return {k: {"class_type": v["class_type"], "inputs": v["inputs"]} for k, v in prompt.items()}


@pytest.fixture(scope="module")
def builtin_object_info():
    import nodes
    from core.execution.registry import NodeRegistry

    registry = NodeRegistry()
    nodes.register_builtin_nodes(registry)
    return registry.object_info()


@pytest.mark.parametrize("ui_path", PAIRS, ids=lambda p: p.name.removesuffix(".ui.json"))
def test_shared_ui_workflow_converts_to_its_derived_api_form(ui_path, builtin_object_info):
    from core.workflow.formats import VIRTUAL_TYPES, ui_to_api

    workflow = json.loads(ui_path.read_text(encoding="utf-8"))
    expected = json.loads(ui_path.with_name(ui_path.name.replace(".ui.json", ".api.derived.json")).read_text())
    missing = sorted({n["type"] for n in workflow["nodes"] if n.get("mode", 0) not in (2, 4)}
                     - set(VIRTUAL_TYPES) - set(builtin_object_info))
    if missing:
        pytest.fail(f"{ui_path.name}: built-in node classes not registered yet: {', '.join(missing)}")
    assert _strip(ui_to_api(workflow, builtin_object_info)) == _strip(expected)
