"""Inputs beyond the declared ones, execution blockers inside lists, and links to missing nodes."""


def node(class_type, **inputs):
    return {"class_type": class_type, "inputs": inputs}


def test_undeclared_linked_inputs_reach_a_kwargs_function(executor):
    prompt = {"1": node("FlowInt", value=1), "2": node("FlowInt", value=10), "3": node("FlowInt", value=100),
              "4": node("FlowSum", value1=["1", 0], value2=["2", 0], value3=["3", 0]),
              "5": node("FlowCollect", value=["4", 0])}
    res = executor.execute(prompt, "p")
    assert res.success, res.error
    assert res.outputs["5"]["value"] == [111]


def test_undeclared_constant_inputs_are_not_passed(executor):
    prompt = {"1": node("FlowInt", value=1), "4": node("FlowSum", value1=["1", 0], stray=5),
              "5": node("FlowCollect", value=["4", 0])}
    res = executor.execute(prompt, "p")
    assert res.outputs["5"]["value"] == [1]


def test_a_blocked_list_item_blocks_only_that_item(executor):
    prompt = {"1": node("FlowInt", value=1), "2": node("FlowInt", value=2), "3": node("FlowInt", value=3),
              "4": node("FlowList", value1=["1", 0], value2=["2", 0], value3=["3", 0]),
              "5": node("FlowIsOdd", value=["4", 0]),
              "6": node("FlowGate", value=["4", 0], block=["5", 0], message=""),
              "7": node("FlowCollect", value=["6", 0])}
    res = executor.execute(prompt, "p")
    assert res.success, res.error
    assert res.outputs["7"]["value"] == [2]


def test_a_blocker_with_a_message_is_reported_on_the_receiving_node_and_the_rest_runs(executor):
    events = []
    prompt = {"1": node("FlowInt", value=1), "2": node("FlowGate", value=["1", 0], block=True, message="no"),
              "3": node("FlowCollect", value=["2", 0]), "4": node("FlowCollect", value=["1", 0])}
    res = executor.execute(prompt, "p", emit=lambda e, d: events.append((e, d)))
    errors = [d for e, d in events if e == "execution_error"]
    assert len(errors) == 1 and errors[0]["node_id"] == "3"
    assert errors[0]["exception_message"] == "Execution Blocked: no"
    assert errors[0]["exception_type"] == "ExecutionBlocked"
    assert res.success and "3" not in res.outputs and res.outputs["4"]["value"] == [1]
    assert "execution_error" not in [e for e, _ in res.messages]  # the history records a success


def test_link_to_a_missing_node_fails_validation_for_that_output_only(executor):
    prompt = {"1": node("FlowInt", value=4), "2": node("FlowAdd", a=["1", 0], b=["99", 0]),
              "3": node("FlowCollect", value=["2", 0]), "4": node("FlowCollect", value=["1", 0])}
    res = executor.execute(prompt, "p")
    assert res.success, res.error
    assert "3" not in res.outputs and res.outputs["4"]["value"] == [4]


def test_undeclared_link_to_a_missing_node_is_a_validation_error(registry):
    from core.execution.validate import validate_prompt

    prompt = {"1": node("FlowInt", value=4), "2": node("FlowSum", value1=["1", 0], value2=["99", 0]),
              "3": node("FlowCollect", value=["2", 0])}
    check = validate_prompt(registry, prompt)
    assert not check.ok
    assert check.node_errors["2"]["errors"][0]["message"] == "Linked node does not exist"


def test_empty_partial_execution_targets_select_nothing_and_are_refused(registry):
    from core.execution.validate import validate_prompt

    prompt = {"1": node("FlowInt", value=4), "2": node("FlowCollect", value=["1", 0])}
    check = validate_prompt(registry, prompt, partial_targets=[])
    assert not check.ok and check.error["type"] == "prompt_no_outputs"
