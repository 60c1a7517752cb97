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
    prompt = {"1": node("FlowInt", value=1), "2": node("FlowAsyncFail", value=["1", 0], seconds=0.01),
              "3": node("FlowCollect", value=["2", 0])}
    executor.execute(prompt, "pid", emit=lambda e, d: events.append((e, d)))
    final = [d for e, d in events if e == "progress_state"][-1]["nodes"]
    assert final["2"]["state"] == "error"


def test_history_status_messages_keep_only_status_events(executor):
    """Progress floods go to listeners only; the history keeps ComfyUI's status events."""
    prompt = {"1": node("FlowInt", value=4), "2": node("FlowAsyncSleep", value=["1", 0], seconds=0.01),
              "3": node("FlowCollect", value=["2", 0])}
    res = executor.execute(prompt, "pid", emit=lambda e, d: None)
    assert [e for e, _ in res.messages] == ["execution_start", "execution_cached", "execution_success"]


def test_async_failure_stops_the_run_and_names_its_node(executor):
    prompt = {"1": node("FlowInt", value=1),
              "2": node("FlowAsyncSleep", value=["1", 0], seconds=3), "3": node("FlowCollect", value=["2", 0]),
              "4": node("FlowAsyncFail", value=["1", 0], seconds=0.05), "5": node("FlowCollect", value=["4", 0])}
    start = time.perf_counter()
    res = executor.execute(prompt, "p")
    assert not res.success
    assert res.error["node_id"] == "4" and "async failure on purpose" in res.error["exception_message"]
    assert time.perf_counter() - start < 2, "the run waited for the other async node instead of stopping"


def test_interrupt_stops_a_waiting_async_node(executor):
    import threading

    prompt = {"1": node("FlowInt", value=1), "2": node("FlowAsyncSleep", value=["1", 0], seconds=5),
              "3": node("FlowCollect", value=["2", 0])}
    threading.Timer(0.3, executor.interrupt).start()
    start = time.perf_counter()
    res = executor.execute(prompt, "p")
    assert res.interrupted and not res.success
    assert time.perf_counter() - start < 2


def test_sync_set_progress_is_reported_while_the_node_runs(executor):
    events = []
    prompt = {"1": node("FlowInt", value=4), "3": node("FlowSyncProgress", value=["1", 0]),
              "4": node("FlowCollect", value=["3", 0])}
    executor.execute(prompt, "pid", emit=lambda e, d: events.append((e, d)))
    kinds = [(e, d.get("node")) for e, d in events]
    progress = [d for e, d in events if e == "progress" and d["node"] == "3"]
    assert [(p["value"], p["max"]) for p in progress] == [(1, 4)]
    assert kinds.index(("progress", "3")) < kinds.index(("executing", "4"))


def test_async_set_progress_goes_through_comfy_api_latest(executor):
    """comfy_api.v0_0_2.ComfyAPI is the latest API under version 0.0.2, as in ComfyUI."""
    import sys

    from comfy_api.latest import ComfyAPI_latest

    pack = sys.modules["custom_nodes.flowpack"]
    assert isinstance(pack.api, ComfyAPI_latest) and pack.api.VERSION == "0.0.2"


def test_latest_sync_api_reports_progress_while_a_sync_node_runs(registry):
    """Sync nodes run inside the executor's event loop: the V3 sync API must not defer the update."""
    from comfy_api.latest import ComfyAPISync

    from core.execution.executor import Executor

    api = ComfyAPISync()

    class LatestSyncProgress:
        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {}}

        RETURN_TYPES = ("INT",)
        FUNCTION = "run"

        def run(self):
            api.execution.set_progress(1, 4)
            return (1,)

    registry.register(LatestSyncProgress, "LatestSyncProgress")
    events = []
    Executor(registry).execute({"1": node("LatestSyncProgress"), "2": node("FlowCollect", value=["1", 0])}, "p",
                               emit=lambda e, d: events.append((e, d.get("node"))))
    assert events.index(("progress", "1")) < events.index(("executing", "2"))


def test_a_function_returning_a_coroutine_runs_concurrently_like_an_async_one(registry):
    """V3 nodes reach the executor through a plain wrapper that returns the coroutine of ``execute``."""
    from core.execution.executor import Executor

    class WrappedSleep:
        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {"value": ("INT",)}}

        RETURN_TYPES = ("INT",)
        FUNCTION = "run"

        def run(self, value):
            async def sleep():
                await asyncio.sleep(0.3)
                return (value,)
            return sleep()

    registry.register(WrappedSleep, "WrappedSleep")
    prompt = {"1": node("FlowInt", value=1)}
    for i in range(2, 5):
        prompt[str(i)] = node("WrappedSleep", value=["1", 0])
        prompt[f"o{i}"] = node("FlowCollect", value=[str(i), 0])
    start = time.perf_counter()
    res = Executor(registry).execute(prompt, "p")
    assert res.success, res.error
    assert time.perf_counter() - start < 0.8, "three 0.3 s waits ran one after another"
