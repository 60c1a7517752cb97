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
    wanted = {k: info[k] for k in types if k in info}
    expected = json.loads((FOLDER / f"{name}.api.expected.json").read_text(encoding="utf-8"))
    assert api_core(export_with(canvas, wanted, path, len(workflow["nodes"]))) == api_core(expected)


def export_with(canvas, wanted: dict, path, n_nodes: int) -> dict:
    """Drop ``path`` with ``wanted`` in the catalogue and export. The server's catalogue (which lacks the
    interface stand-ins) is fetched again when the websocket connects; if that lands mid-test, try again."""
    for _ in range(3):
        canvas.page.wait_for_function("window.__latentflow.app.api.connected")
        canvas.hook("lf.setCatalogue({...lf.catalogue(), ...arg})", wanted)
        canvas.clear()
        canvas.drop_file(path.name, path.read_bytes(), "application/json")
        canvas.page.wait_for_function(f"window.__latentflow.summary().nodes === {n_nodes}")
        prompt = canvas.hook("lf.exportApi()")
        if canvas.hook("Object.keys(arg).every(k => k in lf.catalogue())", wanted):
            return prompt
    raise AssertionError("the server's catalogue kept replacing the test catalogue")


def test_dynamic_combo_nodes_export_their_chosen_options_inputs(canvas):
    """Resize Image/Mask and Save Image (Advanced): the stored choice decides which widgets follow it,
    and choosing another option brings that option's widgets."""
    nodes = [{"id": 1, "type": "EmptyImage", "mode": 0, "pos": [0, 0], "inputs": [],
              "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [1]}], "widgets_values": [64, 48, 1, 0]},
             {"id": 2, "type": "ResizeImageMaskNode", "mode": 0, "pos": [300, 0],
              "inputs": [{"name": "input", "type": "IMAGE,MASK", "link": 1}],
              "outputs": [{"name": "resized", "type": "IMAGE", "links": [2]}],
              "widgets_values": ["scale total pixels", 0.5, "lanczos"]},
             {"id": 3, "type": "SaveImageAdvanced", "mode": 0, "pos": [600, 0],
              "inputs": [{"name": "images", "type": "IMAGE", "link": 2}], "outputs": [],
              "widgets_values": ["ComfyUI", "png", "16-bit", "sRGB"]}]
    data = json.dumps({"nodes": nodes, "links": [[1, 1, 0, 2, 0, "IMAGE"], [2, 2, 0, 3, 0, "IMAGE"]],
                       "version": 0.4, "last_node_id": 3, "last_link_id": 2}).encode()
    canvas.clear()
    canvas.drop_file("dynamic.json", data, "application/json")
    canvas.page.wait_for_function("window.__latentflow.summary().nodes === 3")
    prompt = canvas.hook("lf.exportApi()")
    assert prompt["2"]["inputs"] == {"resize_type": "scale total pixels", "resize_type.megapixels": 0.5,
                                     "scale_method": "lanczos", "input": ["1", 0]}
    assert prompt["3"]["inputs"]["format.bit_depth"] == "16-bit"
    canvas.hook("lf.app.graph.setWidget(lf.app.graph.getNode(2), 'resize_type', 'scale by multiplier')")
    assert canvas.hook("lf.exportApi()")["2"]["inputs"] == {"resize_type": "scale by multiplier",
                                                            "resize_type.multiplier": 1.0, "scale_method": "lanczos",
                                                            "input": ["1", 0]}
