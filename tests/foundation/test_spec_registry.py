"""The declare-once node spec, the registry and object_info's exact keys."""
import pytest

from core.execution.registry import NodeRegistry, RegistryError
from core.execution.spec import Boolean, Combo, Float, In, Int, Node, Output, String

OBJECT_INFO_KEYS = {"input", "input_order", "is_input_list", "output", "output_is_list", "output_name", "name",
                    "display_name", "description", "python_module", "category", "output_node",
                    "has_intermediate_output", "search_aliases"}


class Example(Node):
    CATEGORY = "testing/spec"
    DISPLAY_NAME = "Example Node"
    DESCRIPTION = "does a thing"
    INPUTS = (In("MODEL", "model"),
              Int("seed", default=0, min=0, max=2 ** 64 - 1, control_after_generate=True),
              Float("cfg", default=8.0, min=0.0, max=100.0, step=0.1, round=0.01),
              Combo("mode", choices=lambda: ["a", "b"]),
              String("text", multiline=True, dynamic_prompts=True),
              Boolean("flag", default=True, optional=True))
    OUTPUTS = (Output("LATENT", name="latent", tooltip="the result"),)

    def execute(self, **kw):
        return (kw,)


def test_spec_generates_the_classic_interface():
    types = Example.INPUT_TYPES()
    assert types["required"]["model"] == ("MODEL",)
    assert types["required"]["seed"] == ("INT", {"default": 0, "min": 0, "max": 2 ** 64 - 1,
                                                 "control_after_generate": True})
    assert types["required"]["cfg"] == ("FLOAT", {"default": 8.0, "min": 0.0, "max": 100.0, "step": 0.1,
                                                  "round": 0.01})
    assert types["required"]["mode"] == (["a", "b"],)
    assert types["required"]["text"][1]["multiline"] is True
    assert types["optional"]["flag"] == ("BOOLEAN", {"default": True})
    assert list(types["required"]) == ["model", "seed", "cfg", "mode", "text"]
    assert Example.RETURN_TYPES == ("LATENT",) and Example.RETURN_NAMES == ("latent",)
    # like ComfyUI's classes, no OUTPUT_IS_LIST when no output is a list (a plugin subclass that changes
    # RETURN_TYPES must not inherit flags sized for ours)
    assert not hasattr(Example, "OUTPUT_IS_LIST") and Example.FUNCTION == "execute"
    assert Example.OUTPUT_TOOLTIPS == ("the result",)


def test_duplicate_input_names_are_refused():
    with pytest.raises(TypeError, match="duplicate"):
        class Dup(Node):  # noqa: F841
            INPUTS = (Int("x"), Int("x"))


def test_object_info_has_exactly_the_reference_keys():
    reg = NodeRegistry()
    reg.register(Example, module="nodes")
    info = reg.object_info()["Example"]
    assert set(info) == OBJECT_INFO_KEYS | {"output_tooltips"}
    assert info["display_name"] == "Example Node" and info["category"] == "testing/spec"
    assert info["input_order"] == {"required": ["model", "seed", "cfg", "mode", "text"], "optional": ["flag"]}
    assert info["output_name"] == ["latent"] and info["python_module"] == "nodes"


def test_classic_class_without_optional_attributes_gets_defaults(registry):
    info = registry.node_info("TestAdd")
    assert set(info) == OBJECT_INFO_KEYS
    assert info["output_name"] == ["sum"] and info["output_is_list"] == [False]
    assert info["python_module"] == "custom_nodes.testpack" and info["category"] == "testing/math"


def test_register_refuses_duplicates_and_names_the_pack():
    reg = NodeRegistry()
    reg.register(Example, module="nodes")
    with pytest.raises(RegistryError, match="custom_nodes.other.*already registered by nodes"):
        reg.register(Example, module="custom_nodes.other")


def test_register_refuses_classes_that_cannot_run():
    class NoFunction:
        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {}}

        RETURN_TYPES = ()
        FUNCTION = "missing"

    with pytest.raises(RegistryError, match="FUNCTION 'missing'"):
        NodeRegistry().register(NoFunction)


def test_object_info_skips_a_node_whose_input_types_raises(registry):
    class Broken:
        @classmethod
        def INPUT_TYPES(cls):
            raise RuntimeError("boom")

        RETURN_TYPES = ()
        FUNCTION = "run"

        def run(self):
            return ()

    registry.register(Broken, "Broken")
    info = registry.object_info()
    assert "Broken" not in info and "TestAdd" in info
