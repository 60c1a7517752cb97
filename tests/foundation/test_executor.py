"""Executor: order, caching by signature, policies, lazy inputs, lists, interrupts, events, errors."""
import threading
import time

import pytest

from core.execution.executor import Executor


def const(v):
    return {"class_type": "TestConst", "inputs": {"value": v}}


def add(a, b, c=0):
    return {"class_type": "TestAdd", "inputs": {"a": [a, 0], "b": [b, 0], "c": c}}


def out(src):
    return {"class_type": "TestOutput", "inputs": {"value": [src, 0]}}


def diamond(x=1, y=2):
    return {"1": const(x), "2": const(y), "3": add("1", "2"), "4": add("3", "1"), "5": out("4"),
            "6": const(100), "7": out("6")}


def value_of(result, node):
    return result.outputs[node]["value"][0]


def test_runs_in_dependency_order_and_computes(executor):
    res = executor.execute(diamond(), "p1")
    assert res.success
    assert value_of(res, "5") == 4
    order = res.executed
    assert order.index("3") > order.index("1") and order.index("4") > order.index("3")


def test_only_what_outputs_need_runs(executor, pack):
    prompt = diamond()
    prompt["9"] = const(5)  # feeds nothing
    res = executor.execute(prompt, "p")
    assert "9" not in res.executed


def test_rerun_of_same_prompt_is_fully_cached(executor, pack):
    executor.execute(diamond(), "a")
    pack.CALLS.clear()
    res = executor.execute(diamond(), "b")
    assert res.executed == [] and sorted(res.cached) == ["1", "2", "3", "4", "5", "6", "7"]
    assert sum(pack.CALLS.values()) == 0
    assert value_of(res, "5") == 4  # cached ui is returned again


def test_one_widget_change_reruns_exactly_its_downstream(executor, pack):
    executor.execute(diamond(), "a")
    pack.CALLS.clear()
    res = executor.execute(diamond(y=5), "b")
    assert sorted(res.executed) == ["2", "3", "4", "5"]
    assert sorted(res.cached) == ["1", "6", "7"]
    assert pack.CALLS == {"Const": 1, "Add": 2, "Output": 1}
    assert value_of(res, "5") == 7


def test_node_ids_do_not_matter_for_the_cache(executor, pack):
    executor.execute({"1": const(3), "2": out("1")}, "a")
    pack.CALLS.clear()
    res = executor.execute({"10": const(3), "20": out("10")}, "b")
    # the output node takes a hidden UNIQUE_ID, which makes its own key node-specific (docs/comfy-api.md §5.3)
    assert res.cached == ["10"] and pack.CALLS["Const"] == 0 and pack.CALLS["Output"] == 1


def test_identical_subgraphs_share_one_run(executor, pack):
    res = executor.execute({"1": const(3), "2": const(3), "3": add("1", "2"), "4": out("3")}, "a")
    assert pack.CALLS["Const"] == 1 and value_of(res, "4") == 6


def test_classic_policy_keeps_only_the_last_prompt(registry, pack):
    ex = Executor(registry, cache="classic")
    ex.execute({"1": const(1), "2": out("1")}, "a")
    ex.execute({"1": const(2), "2": out("1")}, "b")
    pack.CALLS.clear()
    ex.execute({"1": const(1), "2": out("1")}, "c")
    assert pack.CALLS["Const"] == 1


def test_lru_policy_keeps_older_results(registry, pack):
    ex = Executor(registry, cache="lru", lru_size=10)
    ex.execute({"1": const(1), "2": out("1")}, "a")
    ex.execute({"1": const(2), "2": out("1")}, "b")
    pack.CALLS.clear()
    res = ex.execute({"1": const(1), "2": out("1")}, "c")
    assert pack.CALLS["Const"] == 0 and sorted(res.cached) == ["1", "2"]


def test_lru_policy_evicts_beyond_its_size(registry, pack):
    ex = Executor(registry, cache="lru", lru_size=2)
    for v in (1, 2, 3):
        ex.execute({"1": const(v), "2": out("1")}, f"p{v}")
    pack.CALLS.clear()
    ex.execute({"1": const(1), "2": out("1")}, "again")
    assert pack.CALLS["Const"] == 1


def test_none_policy_reuses_nothing(registry, pack):
    ex = Executor(registry, cache="none")
    ex.execute({"1": const(1), "2": out("1")}, "a")
    pack.CALLS.clear()
    ex.execute({"1": const(1), "2": out("1")}, "b")
    assert pack.CALLS["Const"] == 1 and pack.CALLS["Output"] == 1


def test_is_changed_nan_always_reruns(executor, pack):
    prompt = {"1": {"class_type": "TestAlwaysChanged", "inputs": {"value": 1}}, "2": out("1")}
    executor.execute(prompt, "a")
    executor.execute(prompt, "b")
    assert pack.CALLS["AlwaysChanged"] == 2


def test_not_idempotent_nodes_do_not_share_results(executor, pack):
    prompt = {"1": {"class_type": "TestUnique", "inputs": {"value": 1}},
              "2": {"class_type": "TestUnique", "inputs": {"value": 1}}, "3": add("1", "2"), "4": out("3")}
    executor.execute(prompt, "a")
    assert pack.CALLS["Unique"] == 2


def test_lazy_inputs_evaluate_only_the_branch_needed(executor, pack):
    prompt = {"1": const(10), "2": const(20), "3": add("1", "1"), "4": add("2", "2"),
              "5": {"class_type": "TestLazySwitch",
                    "inputs": {"switch": False, "on_true": ["3", 0], "on_false": ["4", 0]}},
              "6": out("5")}
    res = executor.execute(prompt, "a")
    assert res.success and value_of(res, "6") == 40
    assert "3" not in res.executed and "1" not in res.executed
    assert pack.CALLS["LazySwitch"] == 1


def test_output_is_list_maps_downstream_per_item(executor):
    prompt = {"1": {"class_type": "TestListOf", "inputs": {"start": 1, "count": 3}},
              "2": const(10), "3": add("1", "2"), "4": out("3")}
    res = executor.execute(prompt, "a")
    assert res.outputs["4"]["value"] == [11, 12, 13]


def test_input_is_list_receives_the_whole_list(executor):
    prompt = {"1": {"class_type": "TestListOf", "inputs": {"start": 1, "count": 4}},
              "2": {"class_type": "TestSumList", "inputs": {"values": ["1", 0]}}, "3": out("2")}
    assert value_of(executor.execute(prompt, "a"), "3") == 10


def test_hidden_inputs_are_provided(executor):
    res = executor.execute({"1": const(1), "2": out("1")}, "a", extra_data={"extra_pnginfo": {"workflow": {"x": 1}}})
    ui = res.outputs["2"]
    assert ui["node"] == ["2"] and ui["has_prompt"] == [True] and ui["pnginfo"] == [{"workflow": {"x": 1}}]


def test_event_sequence_of_a_normal_run(executor):
    events = []
    executor.execute({"1": const(1), "2": out("1")}, "pid", emit=lambda e, d: events.append((e, d)))
    events = [(e, d) for e, d in events if e != "progress_state"]  # tests/execution covers those
    kinds = [e for e, _ in events]
    assert kinds == ["execution_start", "execution_cached", "executing", "executing", "executed",
                     "execution_success", "executing"]
    assert events[-1][1] == {"node": None, "prompt_id": "pid"}
    assert events[4][1]["output"]["value"] == [1]
    assert all(d.get("prompt_id") == "pid" for _, d in events)


def test_cached_run_resends_executed_for_output_nodes(executor):
    executor.execute({"1": const(1), "2": out("1")}, "a")
    events = []
    executor.execute({"1": const(1), "2": out("1")}, "b", emit=lambda e, d: events.append((e, d)))
    kinds = [e for e, _ in events if e != "progress_state"]
    assert kinds == ["execution_start", "execution_cached", "executed", "execution_success", "executing"]
    assert sorted(events[1][1]["nodes"]) == ["1", "2"]


def test_progress_events_come_from_inside_a_node(executor):
    events = []
    prompt = {"1": const(1), "2": {"class_type": "TestSlow", "inputs": {"value": ["1", 0], "steps": 3, "delay": 0}},
              "3": out("2")}
    executor.execute(prompt, "p", emit=lambda e, d: events.append((e, d)))
    prog = [d for e, d in events if e == "progress"]
    assert [(d["value"], d["max"], d["node"]) for d in prog] == [(1, 3, "2"), (2, 3, "2"), (3, 3, "2")]


def test_node_error_fails_the_job_with_its_details_and_the_next_job_runs(executor):
    events = []
    prompt = {"1": const(5), "2": {"class_type": "TestFail", "inputs": {"value": ["1", 0]}}, "3": out("2")}
    res = executor.execute(prompt, "bad", emit=lambda e, d: events.append((e, d)))
    assert not res.success
    err = dict(events)["execution_error"]
    assert err["node_id"] == "2" and err["node_type"] == "TestFail"
    assert err["exception_type"] == "ValueError"
    assert "always fails (got 5)" in err["exception_message"]
    assert any("raise ValueError" in line for line in err["traceback"])
    assert err["current_inputs"] == {"value": [5]} and err["executed"] == ["1"]
    assert executor.execute({"1": const(2), "2": out("1")}, "next").success


def test_interrupt_from_inside_a_long_node_stops_within_a_step(executor, pack):
    prompt = {"1": const(1), "2": {"class_type": "TestSlow", "inputs": {"value": ["1", 0], "steps": 1000,
                                                                         "delay": 0.005}}, "3": out("2")}
    events = []
    t = threading.Timer(0.1, executor.interrupt)
    t.start()
    res = executor.execute(prompt, "p", emit=lambda e, d: events.append((e, d)))
    t.join()
    assert res.interrupted and not res.success
    steps_done = pack.nodes.Slow.last_step
    progressed = [d["value"] for e, d in events if e == "progress"]
    assert steps_done < 1000 and progressed[-1] >= steps_done - 1
    info = dict(events)["execution_interrupted"]
    assert info["node_id"] == "2" and info["node_type"] == "TestSlow"
    assert executor.execute({"1": const(3), "2": out("1")}, "after").success


def test_interrupt_between_nodes(executor, pack):
    prompt = {"1": const(1), "2": {"class_type": "TestSlow", "inputs": {"value": ["1", 0], "steps": 1, "delay": 0}},
              "3": add("2", "2"), "4": out("3")}

    def emit(event, data):
        if event == "executed" or (event == "progress" and data["value"] == 1):
            executor.interrupt()

    res = executor.execute(prompt, "p", emit=emit)
    assert res.interrupted and "3" not in res.executed and "2" in res.executed


def test_completed_nodes_stay_cached_after_an_error(executor, pack):
    prompt = {"1": const(5), "2": {"class_type": "TestFail", "inputs": {"value": ["1", 0]}}, "3": out("2")}
    executor.execute(prompt, "a")
    pack.CALLS.clear()
    executor.execute({"1": const(5), "2": out("1")}, "b")
    assert pack.CALLS["Const"] == 0


def test_invalid_prompt_is_not_executed(executor, pack):
    res = executor.execute({"1": {"class_type": "TestConst", "inputs": {}}, "2": out("1")}, "p")
    assert not res.success and res.error["type"] == "validation" and pack.CALLS["Output"] == 0


@pytest.mark.parametrize("depth", [1500])
def test_deep_chains_do_not_hit_the_recursion_limit(executor, depth):
    prompt = {"0": const(1)}
    for i in range(1, depth):
        prompt[str(i)] = add(str(i - 1), "0")
    prompt["out"] = out(str(depth - 1))
    res = executor.execute(prompt, "deep")
    assert res.success and value_of(res, "out") == depth


def test_async_node_functions_are_awaited(registry):
    class AsyncNode:
        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {"value": ("INT", {"default": 1})}}

        RETURN_TYPES = ("INT",)
        FUNCTION = "run"

        async def run(self, value):
            return (value * 2,)

    registry.register(AsyncNode, "AsyncNode")
    res = Executor(registry).execute({"1": {"class_type": "AsyncNode", "inputs": {"value": 4}}, "2": out("1")}, "a")
    assert value_of(res, "2") == 8


def test_execution_time_is_not_spent_sleeping(executor):
    start = time.perf_counter()
    executor.execute(diamond(), "a")
    assert time.perf_counter() - start < 5
