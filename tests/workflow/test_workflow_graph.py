"""Links of UI workflows resolve through virtual, bypassed, muted and subgraph nodes as in the frontend."""
from __future__ import annotations

import pytest

from uigraph import ui_node, ui_workflow


def to_api(workflow, object_info):
    from core.workflow.formats import ui_to_api

    return ui_to_api(workflow, object_info)


def loader(id_, model_links=(), clip_links=(), **kw):
    return ui_node(id_, "Loader", outputs=[("MODEL", "MODEL", model_links), ("CLIP", "CLIP", clip_links)],
                   widgets_values=["a.safetensors"], **kw)


def test_plain_link_becomes_node_id_and_slot(object_info):
    wf = ui_workflow([loader(1, clip_links=[1]),
                      ui_node(2, "Encode", inputs=[("clip", "CLIP", 1)], widgets_values=["cat"])],
                     [[1, 1, 1, 2, 0, "CLIP"]])
    assert to_api(wf, object_info)["2"]["inputs"] == {"text": "cat", "clip": ["1", 1]}


def test_primitive_value_reaches_every_widget_it_feeds(object_info):
    wf = ui_workflow([
        ui_node(5, "PrimitiveNode", outputs=[("INT", "INT", [1, 2, 3])], widgets_values=[33, "fixed"]),
        ui_node(6, "Sampler", inputs=[("model", "MODEL", None), ("positive", "CONDITIONING", None),
                                      ("steps", "INT", 1, "steps")], widgets_values=[1, "fixed", 20, 7.0, "x"]),
        ui_node(7, "Reroute", inputs=[("", "*", 2)], outputs=[("", "INT", [4])]),
        ui_node(8, "OldSeed", inputs=[("steps", "INT", 4, "steps"), ("seed", "INT", 3, "seed")],
                widgets_values=[0, "fixed", 4]),
    ], [[1, 5, 0, 6, 2, "INT"], [2, 5, 0, 7, 0, "INT"], [3, 5, 0, 8, 1, "INT"], [4, 7, 0, 8, 0, "INT"]])
    prompt = to_api(wf, object_info)
    assert set(prompt) == {"6", "8"}
    assert prompt["6"]["inputs"]["steps"] == 33
    assert prompt["8"]["inputs"] == {"seed": 33, "steps": 33}


def test_legacy_reroute_chain_resolves_to_the_origin(object_info):
    wf = ui_workflow([
        loader(1, clip_links=[1]),
        ui_node(2, "Reroute", inputs=[("", "*", 1)], outputs=[("", "CLIP", [2])]),
        ui_node(3, "Reroute", inputs=[("", "*", 2)], outputs=[("", "CLIP", [3])]),
        ui_node(4, "Encode", inputs=[("clip", "CLIP", 3)], widgets_values=["dog"]),
    ], [[1, 1, 1, 2, 0, "*"], [2, 2, 0, 3, 0, "*"], [3, 3, 0, 4, 0, "CLIP"]])
    prompt = to_api(wf, object_info)
    assert set(prompt) == {"1", "4"}
    assert prompt["4"]["inputs"]["clip"] == ["1", 1]


def test_native_reroutes_leave_links_unchanged(object_info):
    wf = ui_workflow([loader(1, clip_links=[9]), ui_node(4, "Encode", inputs=[("clip", "CLIP", 9)],
                                                         widgets_values=["dog"])],
                     [[9, 1, 1, 4, 0, "CLIP"]],
                     extra={"reroutes": [{"id": 1, "pos": [10, 10], "linkIds": [9]}],
                            "linkExtensions": [{"id": 9, "parentId": 1}]})
    assert to_api(wf, object_info)["4"]["inputs"]["clip"] == ["1", 1]


def test_bypassed_node_passes_the_input_of_the_requested_type(object_info):
    # Swap's outputs are (CLIP, MODEL) but its inputs are (MODEL, CLIP): same-slot types differ,
    # so a CLIP consumer of output 0 gets the bypassed node's CLIP input (slot 1).
    wf = ui_workflow([
        loader(1, model_links=[1], clip_links=[2]),
        ui_node(2, "Swap", mode=4, inputs=[("model", "MODEL", 1), ("clip", "CLIP", 2)],
                outputs=[("CLIP", "CLIP", [3]), ("MODEL", "MODEL", [4])]),
        ui_node(3, "Encode", inputs=[("clip", "CLIP", 3)], widgets_values=["t"]),
        ui_node(4, "Sampler", inputs=[("model", "MODEL", 4), ("positive", "CONDITIONING", None)],
                widgets_values=[1, "fixed", 2, 3.0, "x"]),
    ], [[1, 1, 0, 2, 0, "MODEL"], [2, 1, 1, 2, 1, "CLIP"], [3, 2, 0, 3, 0, "CLIP"], [4, 2, 1, 4, 0, "MODEL"]])
    prompt = to_api(wf, object_info)
    assert "2" not in prompt
    assert prompt["3"]["inputs"]["clip"] == ["1", 1]
    assert prompt["4"]["inputs"]["model"] == ["1", 0]


def test_bypassed_node_prefers_the_same_slot_index(object_info):
    # Both inputs are CLIP: output 1 passes input 1 through, not the first CLIP input.
    wf = ui_workflow([
        loader(1, model_links=[1], clip_links=[2]),
        ui_node(2, "Swap", mode=4, inputs=[("model", "CLIP", 1), ("clip", "CLIP", 2)],
                outputs=[("CLIP", "CLIP", []), ("MODEL", "CLIP", [3])]),
        ui_node(3, "Encode", inputs=[("clip", "CLIP", 3)], widgets_values=["t"]),
    ], [[1, 1, 0, 2, 0, "CLIP"], [2, 1, 1, 2, 1, "CLIP"], [3, 2, 1, 3, 0, "CLIP"]])
    assert to_api(wf, object_info)["3"]["inputs"]["clip"] == ["1", 1]


def test_bypassed_node_without_a_matching_input_drops_the_link(object_info):
    wf = ui_workflow([
        ui_node(2, "ImageIn", mode=4, outputs=[("IMAGE", "IMAGE", [1]), ("MASK", "MASK", [])],
                widgets_values=["a.png", "image", False]),
        ui_node(3, "Save", inputs=[("images", "IMAGE", 1)], widgets_values=["p"]),
    ], [[1, 2, 0, 3, 0, "IMAGE"]])
    assert to_api(wf, object_info)["3"]["inputs"] == {"filename_prefix": "p"}


def test_muted_node_is_dropped_with_the_inputs_it_fed(object_info):
    wf = ui_workflow([
        ui_node(2, "ImageIn", mode=2, outputs=[("IMAGE", "IMAGE", []), ("MASK", "MASK", [1])],
                widgets_values=["a.png", "image", False]),
        ui_node(3, "Sampler", inputs=[("model", "MODEL", None), ("positive", "CONDITIONING", None),
                                      ("mask", "MASK", 1)], widgets_values=[1, "fixed", 2, 3.0, "x"]),
    ], [[1, 2, 1, 3, 5, "MASK"]])
    prompt = to_api(wf, object_info)
    assert set(prompt) == {"3"}
    assert "mask" not in prompt["3"]["inputs"]


def test_converted_widget_linked_to_a_node_takes_the_link(object_info):
    wf = ui_workflow([
        ui_node(1, "Forced", inputs=[("value", "INT", None)], outputs=[("INT", "INT", [1])], widgets_values=[2]),
        ui_node(2, "Sampler", inputs=[("model", "MODEL", None), ("positive", "CONDITIONING", None),
                                      ("steps", "INT", 1, "steps")], widgets_values=[1, "fixed", 20, 3.0, "x"]),
    ], [[1, 1, 0, 2, 2, "INT"]])
    assert to_api(wf, object_info)["2"]["inputs"]["steps"] == ["1", 0]


def test_unlinked_converted_widget_keeps_its_widget_value(object_info):
    wf = ui_workflow([ui_node(2, "Sampler", inputs=[("model", "MODEL", None), ("steps", "INT", None, "steps")],
                              widgets_values=[1, "fixed", 17, 3.0, "x"])], [])
    assert to_api(wf, object_info)["2"]["inputs"]["steps"] == 17


def test_version_1_links_are_objects(object_info):
    wf = {"version": 1, "state": {"lastNodeId": 2, "lastLinkId": 1, "lastGroupId": 0, "lastRerouteId": 0},
          "nodes": [loader(1, clip_links=[1]),
                    ui_node(2, "Encode", inputs=[("clip", "CLIP", 1)], widgets_values=["v1"])],
          "links": [{"id": 1, "origin_id": 1, "origin_slot": 1, "target_id": 2, "target_slot": 0, "type": "CLIP"}],
          "groups": [], "reroutes": [], "config": {}, "extra": {}}
    assert to_api(wf, object_info)["2"]["inputs"] == {"text": "v1", "clip": ["1", 1]}


def test_groups_and_notes_are_not_emitted(object_info):
    wf = ui_workflow([ui_node(1, "Note", widgets_values=["read me"]),
                      ui_node(2, "MarkdownNote", widgets_values=["# hi"]), loader(3)], [],
                     groups=[{"id": 1, "title": "G", "bounding": [0, 0, 100, 100]}])
    assert set(to_api(wf, object_info)) == {"3"}


# --- subgraphs ----------------------------------------------------------------------------------
SUB_ID = "11111111-2222-3333-4444-555555555555"


def encoder_subgraph(inner_text="inner"):
    """Subgraph: input 0 'clip' (CLIP) and input 1 'text' (promoted widget) -> Encode -> output 0."""
    return {
        "id": SUB_ID, "version": 1, "name": "Encoder", "revision": 0,
        "state": {"lastNodeId": 2, "lastLinkId": 3, "lastGroupId": 0, "lastRerouteId": 0},
        "inputNode": {"id": -10, "bounding": [0, 0, 10, 10]}, "outputNode": {"id": -20, "bounding": [0, 0, 10, 10]},
        "inputs": [{"id": "in-clip", "name": "clip", "type": "CLIP", "linkIds": [1]},
                   {"id": "in-text", "name": "text", "type": "STRING", "linkIds": [3]}],
        "outputs": [{"id": "out-cond", "name": "CONDITIONING", "type": "CONDITIONING", "linkIds": [2]}],
        "widgets": [],
        "nodes": [ui_node(5, "Encode", inputs=[("clip", "CLIP", 1), ("text", "STRING", 3, "text")],
                          outputs=[("CONDITIONING", "CONDITIONING", [2])], widgets_values=[inner_text])],
        "links": [{"id": 1, "origin_id": -10, "origin_slot": 0, "target_id": 5, "target_slot": 0, "type": "CLIP"},
                  {"id": 2, "origin_id": 5, "origin_slot": 0, "target_id": -20, "target_slot": 0,
                   "type": "CONDITIONING"},
                  {"id": 3, "origin_id": -10, "origin_slot": 1, "target_id": 5, "target_slot": 1, "type": "STRING"}],
        "groups": [],
    }


def subgraph_workflow(instance_widgets=None, mode=0):
    return ui_workflow([
        loader(1, clip_links=[1]),
        ui_node(12, SUB_ID, mode=mode, inputs=[("clip", "CLIP", 1), ("text", "STRING", None, "text")],
                outputs=[("CONDITIONING", "CONDITIONING", [2])], widgets_values=instance_widgets),
        ui_node(3, "Sampler", inputs=[("model", "MODEL", None), ("positive", "CONDITIONING", 2)],
                widgets_values=[1, "fixed", 2, 3.0, "x"]),
    ], [[1, 1, 1, 12, 0, "CLIP"], [2, 12, 0, 3, 4, "CONDITIONING"]],
        definitions={"subgraphs": [encoder_subgraph()]})


def test_subgraph_inner_nodes_get_container_colon_inner_ids(object_info):
    prompt = to_api(subgraph_workflow(["outer"]), object_info)
    assert set(prompt) == {"1", "12:5", "3"}
    assert prompt["12:5"]["inputs"] == {"text": "outer", "clip": ["1", 1]}
    assert prompt["3"]["inputs"]["positive"] == ["12:5", 0]


def test_subgraph_promoted_widget_without_instance_value_uses_the_inner_value(object_info):
    prompt = to_api(subgraph_workflow(None), object_info)
    assert prompt["12:5"]["inputs"]["text"] == "inner"


def test_nested_subgraphs_join_every_container_id(object_info):
    outer_id = "99999999-2222-3333-4444-555555555555"
    outer = {
        "id": outer_id, "name": "Outer", "inputNode": {"id": -10}, "outputNode": {"id": -20},
        "inputs": [{"id": "o-clip", "name": "clip", "type": "CLIP", "linkIds": [1]}],
        "outputs": [{"id": "o-cond", "name": "CONDITIONING", "type": "CONDITIONING", "linkIds": [2]}],
        "nodes": [ui_node(7, SUB_ID, inputs=[("clip", "CLIP", 1)], outputs=[("CONDITIONING", "CONDITIONING", [2])],
                          widgets_values=["deep"])],
        "links": [{"id": 1, "origin_id": -10, "origin_slot": 0, "target_id": 7, "target_slot": 0, "type": "CLIP"},
                  {"id": 2, "origin_id": 7, "origin_slot": 0, "target_id": -20, "target_slot": 0,
                   "type": "CONDITIONING"}],
    }
    wf = subgraph_workflow()
    wf["nodes"][1]["type"] = outer_id
    wf["nodes"][1]["inputs"] = [{"name": "clip", "type": "CLIP", "link": 1}]
    wf["definitions"]["subgraphs"].append(outer)
    prompt = to_api(wf, object_info)
    assert set(prompt) == {"1", "12:7:5", "3"}
    assert prompt["12:7:5"]["inputs"] == {"text": "deep", "clip": ["1", 1]}
    assert prompt["3"]["inputs"]["positive"] == ["12:7:5", 0]


def test_muted_subgraph_instance_drops_its_inner_nodes(object_info):
    prompt = to_api(subgraph_workflow(["x"], mode=2), object_info)
    assert set(prompt) == {"1", "3"}
    assert "positive" not in prompt["3"]["inputs"]


def test_link_cycle_through_reroutes_is_reported(object_info):
    from core.workflow.formats import WorkflowError

    wf = ui_workflow([
        ui_node(2, "Reroute", inputs=[("", "*", 2)], outputs=[("", "CLIP", [1, 3])]),
        ui_node(3, "Reroute", inputs=[("", "*", 1)], outputs=[("", "CLIP", [2])]),
        ui_node(4, "Encode", inputs=[("clip", "CLIP", 3)], widgets_values=["t"]),
    ], [[1, 2, 0, 3, 0, "*"], [2, 3, 0, 2, 0, "*"], [3, 2, 0, 4, 0, "CLIP"]])
    with pytest.raises(WorkflowError, match="circular"):
        to_api(wf, object_info)
