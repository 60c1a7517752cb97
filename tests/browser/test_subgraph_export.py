"""The canvas's Export API expands subgraphs as the server does: the official templates with subgraphs
export the hand-checked prompts of tests/data/workflows/subgraphs/."""
import json
import sys
from pathlib import Path

import pytest

from tests.testdata import WORKFLOWS

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))
from comfy_interfaces import template_object_info  # noqa: E402

FOLDER = WORKFLOWS / "subgraphs"
TEMPLATES = sorted(p.name.removesuffix(".ui.json") for p in FOLDER.glob("*.ui.json"))


def api_core(prompt):
    return {k: {"class_type": v["class_type"], "inputs": v["inputs"]} for k, v in prompt.items()}


@pytest.mark.parametrize("name", TEMPLATES)
def test_subgraph_template_exports_the_expanded_prompt(canvas, name):
    path = FOLDER / f"{name}.ui.json"
    workflow = json.loads(path.read_text(encoding="utf-8"))
    info = json.loads(json.dumps(template_object_info(), default=list))
    types = {n["type"] for n in workflow["nodes"]}
    types |= {n["type"] for s in workflow["definitions"]["subgraphs"] for n in s["nodes"]}
    canvas.hook("lf.setCatalogue({...lf.catalogue(), ...arg})", {k: info[k] for k in types if k in info})
    canvas.clear()
    canvas.drop_file(path.name, path.read_bytes(), "application/json")
    canvas.page.wait_for_function(f"window.__latentflow.summary().nodes === {len(workflow['nodes'])}")
    expected = json.loads((FOLDER / f"{name}.api.expected.json").read_text(encoding="utf-8"))
    assert api_core(canvas.hook("lf.exportApi()")) == api_core(expected)
