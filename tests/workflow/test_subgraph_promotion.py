"""Promoted widgets of subgraph instances: which stored value reaches which inner input."""
from __future__ import annotations

from uigraph import ui_node, ui_workflow

SAMPLER_SUB = "aaaaaaaa-0000-0000-0000-000000000001"
OUTER_SUB = "aaaaaaaa-0000-0000-0000-000000000002"


def link(id_, origin, origin_slot, target, target_slot, type_="*"):
    return {"id": id_, "origin_id": origin, "origin_slot": origin_slot, "target_id": target,
            "target_slot": target_slot, "type": type_}


def definition(id_, inputs, outputs, nodes, links):
    return {"id": id_, "name": id_[-1], "inputNode": {"id": -10}, "outputNode": {"id": -20},
            "inputs": [{"id": f"in{i}", "name": n, "type": t, "linkIds": ids} for i, (n, t, ids) in enumerate(inputs)],
            "outputs": [{"id": f"out{i}", "name": n, "type": t, "linkIds": ids}
                        for i, (n, t, ids) in enumerate(outputs)],
            "nodes": nodes, "links": links}


def sampler_subgraph():
    """Inputs: model (socket), seed and steps (promoted widgets of the inner Sampler); output LATENT."""
    inner = ui_node(5, "Sampler", inputs=[("model", "MODEL", 1), ("positive", "CONDITIONING", None),
                                          ("steps", "INT", 3, "steps"), ("seed", "INT", 2, "seed")],
                    outputs=[("LATENT", "LATENT", [4])], widgets_values=[11, "randomize", 22, 7.0, "x"])
    return definition(SAMPLER_SUB, [("model", "MODEL", [1]), ("seed", "INT", [2]), ("steps", "INT", [3])],
                      [("LATENT", "LATENT", [4])], [inner],
                      # link 3 names target slot 0 on purpose: the frontend finds the input by link id
                      [link(1, -10, 0, 5, 0, "MODEL"), link(2, -10, 1, 5, 3, "INT"), link(3, -10, 2, 5, 0, "INT"),
                       link(4, 5, 0, -20, 0, "LATENT")])


def workflow(instance_values, *extra_definitions, instance_type=SAMPLER_SUB, instance_inputs=None):
    return ui_workflow([
        ui_node(1, "Loader", outputs=[("MODEL", "MODEL", [1]), ("CLIP", "CLIP", [])], widgets_values=["a.safetensors"]),
        ui_node(9, instance_type, inputs=instance_inputs or [("model", "MODEL", 1)],
                outputs=[("LATENT", "LATENT", [])], widgets_values=instance_values),
    ], [[1, 1, 0, 9, 0, "MODEL"]], definitions={"subgraphs": [sampler_subgraph(), *extra_definitions]})


def to_api(wf, object_info):
    from core.workflow.formats import ui_to_api

    return ui_to_api(wf, object_info)


def test_instance_values_map_one_per_promoted_input_in_definition_order(object_info):
    prompt = to_api(workflow([123, 4]), object_info)
    inputs = prompt["9:5"]["inputs"]
    assert (inputs["seed"], inputs["steps"], inputs["cfg"], inputs["model"]) == (123, 4, 7.0, ["1", 0])


def test_seed_control_slots_of_older_instances_are_skipped(object_info):
    # One value per promoted input plus the seed's control_after_generate slot.
    prompt = to_api(workflow([123, "fixed", 4]), object_info)
    assert (prompt["9:5"]["inputs"]["seed"], prompt["9:5"]["inputs"]["steps"]) == (123, 4)


def test_null_instance_value_falls_back_to_the_inner_widget(object_info):
    prompt = to_api(workflow([None, 4]), object_info)
    assert (prompt["9:5"]["inputs"]["seed"], prompt["9:5"]["inputs"]["steps"]) == (11, 4)


def test_a_linked_instance_input_overrides_the_promoted_widget(object_info):
    wf = workflow([123, 4], instance_inputs=[("model", "MODEL", 1), ("seed", "INT", 2, "seed")])
    wf["nodes"].append(ui_node(3, "OldSeed", outputs=[("INT", "INT", [2])], widgets_values=[5, "fixed", 6]))
    wf["links"].append([2, 3, 0, 9, 1, "INT"])
    prompt = to_api(wf, object_info)
    assert prompt["9:5"]["inputs"]["seed"] == ["3", 0] and prompt["9:5"]["inputs"]["steps"] == 4


def test_a_nested_instance_promotes_its_promoted_inputs_further_out(object_info):
    nested = ui_node(7, SAMPLER_SUB, inputs=[("model", "MODEL", 1), ("seed", "INT", 2, "seed")],
                     outputs=[("LATENT", "LATENT", [3])], widgets_values=[55, 66])
    outer = definition(OUTER_SUB, [("model", "MODEL", [1]), ("seed", "INT", [2])], [("LATENT", "LATENT", [3])],
                       [nested], [link(1, -10, 0, 7, 0, "MODEL"), link(2, -10, 1, 7, 1, "INT"),
                                  link(3, 7, 0, -20, 0, "LATENT")])
    with_value = to_api(workflow([999], outer, instance_type=OUTER_SUB), object_info)
    assert with_value["9:7:5"]["inputs"]["seed"] == 999 and with_value["9:7:5"]["inputs"]["steps"] == 66
    without = to_api(workflow([], outer, instance_type=OUTER_SUB), object_info)
    assert without["9:7:5"]["inputs"]["seed"] == 55


def test_a_legacy_primitive_node_feeds_a_promoted_widget(object_info):
    wf = workflow([123, 4], instance_inputs=[("model", "MODEL", 1), ("steps", "INT", 2, "steps")])
    wf["nodes"].append(ui_node(4, "PrimitiveNode", outputs=[("INT", "INT", [2])], widgets_values=[40, "fixed"]))
    wf["links"].append([2, 4, 0, 9, 1, "INT"])
    assert to_api(wf, object_info)["9:5"]["inputs"]["steps"] == 40
