"""The ComfyUI module names packs import for execution features behave as packs expect."""
import pytest


@pytest.fixture(autouse=True)
def compat_path():
    from core.compat import ensure_on_path

    ensure_on_path()


def test_graph_builder_builds_api_nodes_with_prefixed_ids_and_links():
    from comfy_execution.graph_utils import GraphBuilder

    g = GraphBuilder(prefix="p.")
    a = g.node("FlowInt", value=1)
    b = g.node("FlowAdd", a=a.out(0), b=2)
    b.set_override_display_id("7")
    assert g.finalize() == {"p.1": {"class_type": "FlowInt", "inputs": {"value": 1}},
                            "p.2": {"class_type": "FlowAdd", "inputs": {"a": ["p.1", 0], "b": 2},
                                    "override_display_id": "7"}}
    assert g.lookup_node("2") is b


def test_graph_builder_can_unlink_and_remove_nodes():
    from comfy_execution.graph_utils import GraphBuilder

    g = GraphBuilder(prefix="")
    a = g.node("FlowInt", id="a", value=1)
    b = g.node("FlowAdd", id="b", a=a.out(0), b=a.out(0))
    g.replace_node_output("a", 0, None)
    assert b.inputs == {}
    g.remove_node("a")
    assert list(g.finalize()) == ["b"]


def test_is_link_accepts_string_ids_only():
    from comfy_execution.graph_utils import is_link

    assert is_link(["3", 0]) and not is_link([3, 0]) and not is_link(("3", 0)) and not is_link(["3", "0"])


def test_get_input_info_finds_required_optional_and_hidden_inputs():
    from comfy_execution.graph import get_input_info

    class Node:
        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {"a": ("INT", {"min": 0})}, "optional": {"b": ("*",)},
                    "hidden": {"uid": "UNIQUE_ID"}}

    assert get_input_info(Node, "a") == ("INT", "required", {"min": 0})
    assert get_input_info(Node, "b") == ("*", "optional", {})
    assert get_input_info(Node, "uid") == ("UNIQUE_ID", "hidden", {})
    assert get_input_info(Node, "zzz") == (None, None, None)


def test_io_any_matches_every_type_and_unions_match_their_members():
    from comfy.comfy_types import IO

    assert not (IO.ANY != "IMAGE")
    assert not (IO.NUMBER != "INT") and IO.NUMBER != "STRING"
    assert IO.IMAGE == "IMAGE" and str(IO.IMAGE) == "IMAGE"


def test_dynamic_prompt_tracks_ephemeral_parents_and_display_ids():
    from comfy_execution.graph import DynamicPrompt

    dyn = DynamicPrompt({"1": {"class_type": "X", "inputs": {}}})
    dyn.add_ephemeral_node("1.0.0.1", {"class_type": "Y", "inputs": {}}, "1", "1")
    dyn.add_ephemeral_node("1.0.0.1.0.0.1", {"class_type": "Y", "inputs": {}}, "1.0.0.1", "1.0.0.1")
    assert dyn.get_real_node_id("1.0.0.1.0.0.1") == "1"
    assert dyn.get_parent_node_id("1.0.0.1.0.0.1") == "1.0.0.1"
    assert dyn.get_display_node_id("1.0.0.1.0.0.1") == "1"
    assert dyn.all_node_ids() == {"1", "1.0.0.1", "1.0.0.1.0.0.1"}
