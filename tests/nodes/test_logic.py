"""Switch (lazy), Custom Combo, Number Convert and Math Expression behave as ComfyUI's."""
import pytest

from nodes import logic


def test_switch_asks_only_for_the_selected_branch():
    node = logic.ComfySwitchNode()
    assert node.check_lazy_status(True, None, None) == ["on_true"]
    assert node.check_lazy_status(False, None, None) == ["on_false"]
    assert node.check_lazy_status(True, None, "x") == []
    assert node.execute(True, on_false="a", on_true="b") == ("b",)
    assert node.execute(False, on_false="a", on_true="b") == ("a",)


def test_switch_inputs_are_lazy_and_typed_any():
    spec = logic.ComfySwitchNode.INPUT_TYPES()["required"]
    assert spec["switch"][0] == "BOOLEAN"
    assert spec["on_false"] == ("*", {"lazy": True}) and spec["on_true"] == ("*", {"lazy": True})


def test_the_executor_never_runs_the_branch_the_switch_does_not_select(tmp_path):
    """A failing node on the unselected side must not run; the switch passes the other side through."""
    from core.execution.executor import Executor
    from core.execution.registry import NodeRegistry
    from nodes import register_builtin_nodes

    class Explode:
        RETURN_TYPES = ("INT",)
        FUNCTION = "run"
        CATEGORY = "test"

        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {}}

        def run(self):
            raise RuntimeError("the unselected branch ran")

    registry = NodeRegistry()
    register_builtin_nodes(registry)
    registry.register(Explode, module="tests.nodes")
    prompt = {"1": {"class_type": "PrimitiveInt", "inputs": {"value": 7}},
              "2": {"class_type": "Explode", "inputs": {}},
              "3": {"class_type": "ComfySwitchNode", "inputs": {"switch": False, "on_false": ["1", 0], "on_true": ["2", 0]}},
              "4": {"class_type": "PreviewAny", "inputs": {"source": ["3", 0]}}}
    result = Executor(registry).execute(prompt, "p", {}, ["4"])
    assert result.success, result.error
    assert result.outputs["4"] == {"text": ["7"]} or result.outputs["4"] == {"text": ("7",)}
    assert "2" not in result.executed


def test_custom_combo_returns_the_choice_and_accepts_any_value():
    assert logic.CustomCombo().execute("Turbo", index=2) == ("Turbo", 2)
    assert logic.CustomCombo.VALIDATE_INPUTS(choice="anything the user typed") is True


@pytest.mark.parametrize("value, expected", [(True, (1.0, 1)), (3, (3.0, 3)), (2.7, (2.7, 2)), (" 4.5 ", (4.5, 4))])
def test_number_convert(value, expected):
    assert logic.ComfyNumberConvert().execute(value) == expected


def test_number_convert_names_text_that_is_no_number():
    with pytest.raises(ValueError, match="ComfyNumberConvert, input 'value'"):
        logic.ComfyNumberConvert().execute("twelve")


def run_math(expression, **values):
    return logic.ComfyMathExpression().execute(expression, **{f"values.{k}": v for k, v in values.items()})


def test_math_expression_over_named_inputs():
    assert run_math("a * b + 1", a=2, b=3.5) == (8.0, 8, True)
    assert run_math("a/2", a=5) == (2.5, 2, True)
    assert run_math("max(5, round(a * 24)) + (5 - (max(5, round(a * 24)) % 17)) % 17", a=1.5) == (39.0, 39, True)


def test_math_expression_functions_and_values_list():
    assert run_math("sum(values) + sqrt(16) + floor(2.7)", a=1, b=2, c=3)[1] == 12
    assert run_math("a if a > b else b", a=1, b=9)[1] == 9
    assert run_math("a - a")[2] is False if False else run_math("a - a", a=3)[2] is False


@pytest.mark.parametrize("expression", ["__import__('os')", "a.real", "open('x')", "[x for x in values]", "2 ** 99999"])
def test_math_expression_refuses_anything_beyond_arithmetic(expression):
    with pytest.raises(ValueError, match="ComfyMathExpression, input 'expression'"):
        run_math(expression, a=1)


def test_math_expression_names_an_unknown_input():
    with pytest.raises(ValueError, match="unknown name 'c'"):
        run_math("a + c", a=1, b=2)
