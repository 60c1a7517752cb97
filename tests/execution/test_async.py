"""Async node functions run concurrently; async VALIDATE_INPUTS is awaited; progress reaches progress_state."""
import asyncio
import time


def node(class_type, **inputs):
    return {"class_type": class_type, "inputs": inputs}


def test_async_validate_inputs_accepts_a_valid_prompt(registry):
    from core.execution.validate import validate_prompt

    prompt = {"1": node("FlowAsyncChecked", value=3, limit=10), "2": node("FlowCollect", value=["1", 0])}
    assert validate_prompt(registry, prompt).ok


def test_async_validate_inputs_refusal_names_the_reason(registry):
    from core.execution.validate import validate_prompt

    prompt = {"1": node("FlowAsyncChecked", value=30, limit=10), "2": node("FlowCollect", value=["1", 0])}
    check = validate_prompt(registry, prompt)
    assert not check.ok
    assert "30 is above the limit 10" in check.node_errors["1"]["errors"][0]["details"]


def test_async_validate_inputs_works_inside_a_running_event_loop(registry):
    """The server validates on its event loop thread."""
    from core.execution.validate import validate_prompt

    async def main():
        return validate_prompt(registry, {"1": node("FlowAsyncChecked", value=3, limit=10),
                                          "2": node("FlowCollect", value=["1", 0])})
    assert asyncio.run(main()).ok


def test_independent_async_nodes_wait_concurrently(executor):
    prompt = {"1": node("FlowInt", value=1)}
    for i in range(2, 6):
        prompt[str(i)] = node("FlowAsyncSleep", value=["1", 0], seconds=0.3)
        prompt[f"out{i}"] = node("FlowCollect", value=[str(i), 0])
    start = time.perf_counter()
    res = executor.execute(prompt, "p")
    elapsed = time.perf_counter() - start
    assert res.success, res.error
    assert elapsed < 1.0, f"four 0.3 s sleeps took {elapsed:.2f} s: they ran one after another"


def test_async_node_result_feeds_downstream_nodes(executor):
    prompt = {"1": node("FlowInt", value=4), "2": node("FlowAsyncSleep", value=["1", 0], seconds=0.01),
              "3": node("FlowDouble", value=["2", 0]), "4": node("FlowCollect", value=["3", 0])}
    res = executor.execute(prompt, "p")
    assert res.outputs["4"]["value"] == [8]


def test_progress_state_reports_every_node_of_the_prompt(executor):
    events = []
    prompt = {"1": node("FlowInt", value=4), "2": node("FlowAsyncSleep", value=["1", 0], seconds=0.01),
              "3": node("FlowSyncProgress", value=["2", 0]), "4": node("FlowCollect", value=["3", 0])}
    executor.execute(prompt, "pid", emit=lambda e, d: events.append((e, d)))
    states = [d for e, d in events if e == "progress_state"]
    assert states and all(s["prompt_id"] == "pid" for s in states)
    final = states[-1]["nodes"]
    assert sorted(final) == ["1", "2", "3", "4"]
    assert {n["state"] for n in final.values()} == {"finished"}
    assert final["2"]["real_node_id"] == "2" and final["2"]["parent_node_id"] is None
    kinds = [e for e, _ in events]
    assert kinds.index("progress_state") < kinds.index("execution_success")


def test_set_progress_reaches_progress_state(executor):
    events = []
    # the sleep between the node's two updates is longer than the spacing of progress_state messages
    prompt = {"1": node("FlowInt", value=4), "2": node("FlowAsyncSleep", value=["1", 0], seconds=0.3),
              "3": node("FlowCollect", value=["2", 0])}
    executor.execute(prompt, "pid", emit=lambda e, d: events.append((e, d)))
    seen = [s["nodes"]["2"] for e, s in events if e == "progress_state" and "2" in s["nodes"]]
    assert {"state": "running", "value": 2, "max": 2} in [
        {k: entry[k] for k in ("state", "value", "max")} for entry in seen]


def test_progress_state_messages_are_spaced_out_on_big_prompts(executor):
    """Each message lists every node, so one per node event would be quadratic."""
    events = []
    prompt = {"0": node("FlowInt", value=1)}
    for i in range(1, 400):
        prompt[str(i)] = node("FlowAdd", a=[str(i - 1), 0], b=1)
    prompt["out"] = node("FlowCollect", value=["399", 0])
    executor.execute(prompt, "pid", emit=lambda e, d: events.append((e, d)))
    states = [d for e, d in events if e == "progress_state"]
    assert len(states) < 100
    assert len(states[-1]["nodes"]) == 401 and states[-1]["nodes"]["out"]["state"] == "finished"


def test_progress_state_marks_a_failed_node_as_error(executor):
    events = []
    prompt = {"1": node("FlowInt", value=1), "2": node("FlowGate", value=["1", 0], block=True, message="stop"),
              "3": node("FlowCollect", value=["2", 0])}
    executor.execute(prompt, "pid", emit=lambda e, d: events.append((e, d)))
    final = [d for e, d in events if e == "progress_state"][-1]["nodes"]
    assert final["3"]["state"] == "error"


def test_history_status_messages_keep_only_status_events(executor):
    """Progress floods go to listeners only; the history keeps ComfyUI's status events."""
    prompt = {"1": node("FlowInt", value=4), "2": node("FlowAsyncSleep", value=["1", 0], seconds=0.01),
              "3": node("FlowCollect", value=["2", 0])}
    res = executor.execute(prompt, "pid", emit=lambda e, d: None)
    assert [e for e, _ in res.messages] == ["execution_start", "execution_cached", "execution_success"]
