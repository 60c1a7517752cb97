"""Primitive nodes pass their widget value on, typed, and declare ComfyUI's widget layout."""
import sys

from nodes import primitives


def test_each_primitive_returns_its_value_as_its_type():
    assert primitives.PrimitiveInt().execute(value=7) == (7,)
    assert primitives.PrimitiveFloat().execute(value=2) == (2.0,) and isinstance(
        primitives.PrimitiveFloat().execute(value=2)[0], float)
    assert primitives.PrimitiveBoolean().execute(value=1) == (True,)
    assert primitives.PrimitiveString().execute(value="x") == ("x",)
    assert primitives.PrimitiveStringMultiline().execute(value="a\nb") == ("a\nb",)


def test_int_has_the_full_range_and_a_seed_control_widget():
    spec = primitives.PrimitiveInt.INPUT_TYPES()["required"]["value"]
    assert spec[0] == "INT" and spec[1]["min"] == -sys.maxsize and spec[1]["max"] == sys.maxsize
    assert spec[1]["control_after_generate"] is True


def test_multiline_string_widget_is_multiline():
    assert primitives.PrimitiveStringMultiline.INPUT_TYPES()["required"]["value"][1]["multiline"] is True


def test_a_stored_ui_value_reaches_the_prompt(tmp_path):
    from core.execution.registry import NodeRegistry
    from core.workflow.formats import ui_to_api
    from nodes import register_builtin_nodes

    registry = NodeRegistry()
    register_builtin_nodes(registry)
    node = {"id": 1, "type": "PrimitiveInt", "mode": 0, "inputs": [], "outputs": [], "widgets_values": [42, "fixed"]}
    assert ui_to_api({"nodes": [node], "links": []}, registry.object_info())["1"]["inputs"] == {"value": 42}
