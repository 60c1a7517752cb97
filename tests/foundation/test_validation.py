"""Validation: ComfyUI's error shapes, every error at once, coercion, custom validation."""
from core.execution.validate import describe, validate_prompt


def const(v):
    return {"class_type": "TestConst", "inputs": {"value": v}}


def out(src):
    return {"class_type": "TestOutput", "inputs": {"value": [src, 0]}}


def test_valid_prompt_lists_its_outputs(registry):
    res = validate_prompt(registry, {"1": const(3), "2": out("1")})
    assert res.ok and res.outputs == ["2"] and res.node_errors == {}


def test_unknown_class_type_is_an_invalid_prompt(registry):
    res = validate_prompt(registry, {"1": {"class_type": "Nope", "inputs": {}}, "2": out("1")})
    assert not res.ok
    assert res.error["type"] == "invalid_prompt"
    assert "Nope" in res.error["message"]
    assert res.node_errors["1"]["class_type"] == "Nope"


def test_missing_class_type(registry):
    res = validate_prompt(registry, {"1": {"inputs": {}}})
    assert res.error["type"] == "invalid_prompt"
    assert res.error["details"] == "Node ID '#1'"


def test_no_output_node(registry):
    res = validate_prompt(registry, {"1": const(3)})
    assert res.error["type"] == "prompt_no_outputs"


def test_missing_required_input(registry):
    res = validate_prompt(registry, {"1": {"class_type": "TestConst", "inputs": {}}, "2": out("1")})
    assert not res.ok
    assert res.error["type"] == "prompt_outputs_failed_validation"
    err = res.node_errors["1"]["errors"][0]
    assert err["type"] == "required_input_missing" and err["details"] == "value"
    assert res.node_errors["1"]["dependent_outputs"] == ["2"]


def test_wrong_link_type(registry):
    prompt = {"1": {"class_type": "TestText", "inputs": {"text": "x"}},
              "2": {"class_type": "TestAdd", "inputs": {"a": ["1", 0], "b": ["1", 0]}}, "3": out("2")}
    res = validate_prompt(registry, prompt)
    errs = res.node_errors["2"]["errors"]
    assert [e["type"] for e in errs] == ["return_type_mismatch", "return_type_mismatch"]
    assert errs[0]["details"] == "a, received_type(STRING) mismatch input_type(INT)"


def test_link_to_missing_node_and_bad_output_index(registry):
    prompt = {"1": const(1), "2": {"class_type": "TestAdd", "inputs": {"a": ["9", 0], "b": ["1", 3]}},
              "3": out("2")}
    errs = validate_prompt(registry, prompt).node_errors["2"]["errors"]
    assert [e["type"] for e in errs] == ["bad_linked_input", "bad_linked_input"]
    assert "#9" in errs[0]["details"] and "output 3" in errs[1]["details"]


def test_value_out_of_range_both_sides(registry):
    res = validate_prompt(registry, {"1": const(-10**7), "2": out("1"), "3": const(10**7), "4": out("3")})
    assert res.node_errors["1"]["errors"][0]["type"] == "value_smaller_than_min"
    assert res.node_errors["3"]["errors"][0]["type"] == "value_bigger_than_max"
    assert res.node_errors["1"]["errors"][0]["message"] == "Value -10000000 smaller than min of -1000000"


def test_value_not_in_combo_list(registry):
    prompt = {"1": {"class_type": "TestText", "inputs": {"text": "x"}},
              "2": {"class_type": "TestConcat", "inputs": {"a": ["1", 0], "mode": "shout", "suffix": ""}},
              "3": out("2")}
    err = validate_prompt(registry, prompt).node_errors["2"]["errors"][0]
    assert err["type"] == "value_not_in_list"
    assert err["details"] == "mode: 'shout' not in ['plain', 'upper']"


def test_cycle_is_reported(registry):
    prompt = {"1": {"class_type": "TestAdd", "inputs": {"a": ["2", 0], "b": ["2", 0]}},
              "2": {"class_type": "TestAdd", "inputs": {"a": ["1", 0], "b": ["1", 0]}}, "3": out("1")}
    res = validate_prompt(registry, prompt)
    assert not res.ok
    assert any(e["type"] == "dependency_cycle" for e in res.node_errors["1"]["errors"])


def test_every_error_is_reported_at_once(registry):
    prompt = {"1": const("abc"), "2": out("1"),
              "3": {"class_type": "TestConst", "inputs": {}}, "4": out("3"),
              "5": const(10**9), "6": out("5")}
    res = validate_prompt(registry, prompt)
    assert set(res.node_errors) == {"1", "3", "5"}
    assert res.node_errors["1"]["errors"][0]["type"] == "invalid_input_type"
    assert res.error["details"].count("\n") == 2


def test_only_invalid_outputs_are_dropped(registry):
    res = validate_prompt(registry, {"1": const(1), "2": out("1"), "3": {"class_type": "TestConst", "inputs": {}},
                                     "4": out("3")})
    assert res.ok and res.outputs == ["2"] and list(res.node_errors) == ["3"]


def test_constants_are_coerced(registry):
    prompt = {"1": const("42"), "2": {"class_type": "TestFloat", "inputs": {"value": "0.25"}}, "3": out("1"),
              "4": out("2")}
    res = validate_prompt(registry, prompt)
    assert res.prompt["1"]["inputs"]["value"] == 42 and res.prompt["2"]["inputs"]["value"] == 0.25


def test_validate_inputs_replaces_range_checks_and_can_refuse(registry):
    res = validate_prompt(registry, {"1": {"class_type": "TestUnique", "inputs": {"value": 7}}, "2": out("1")})
    err = res.node_errors["1"]["errors"][0]
    assert err["type"] == "custom_validation_failed" and "seven" in err["details"]
    # VALIDATE_INPUTS names 'value', so the max of 10 is not enforced by the server
    assert validate_prompt(registry, {"1": {"class_type": "TestUnique", "inputs": {"value": 50}},
                                      "2": out("1")}).ok


def test_partial_targets_restrict_outputs(registry):
    res = validate_prompt(registry, {"1": const(1), "2": out("1"), "3": out("1")}, partial_targets=["3"])
    assert res.outputs == ["3"]


def test_errors_describe_node_input_and_reason(registry):
    res = validate_prompt(registry, {"1": const(-10**7), "2": out("1")})
    (line,) = describe("1", "TestConst", res.node_errors["1"]["errors"])
    assert line == "TestConst #1, input 'value': Value -10000000 smaller than min of -1000000"


def test_wrapped_list_constants_are_unwrapped(registry):
    prompt = {"1": {"class_type": "TestText", "inputs": {"text": {"__value__": ["a", "b"]}}}, "2": out("1")}
    res = validate_prompt(registry, prompt)
    assert res.ok and res.prompt["1"]["inputs"]["text"] == "['a', 'b']"
