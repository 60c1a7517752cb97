"""Node expansion: a node returns {"result": ..., "expand": graph}; the executor splices it in and runs it."""


def node(class_type, **inputs):
    return {"class_type": class_type, "inputs": inputs}


def shown(result, node_id):
    return result.outputs[node_id]["value"]


def test_expanded_subgraph_runs_and_its_output_becomes_the_nodes_output(executor):
    prompt = {"1": node("FlowInt", value=5), "2": node("FlowDouble", value=["1", 0]),
              "3": node("FlowCollect", value=["2", 0])}
    res = executor.execute(prompt, "p")
    assert res.success, res.error
    assert shown(res, "3") == [10]


def test_expansion_nodes_are_prefixed_with_the_generating_node_id(executor):
    prompt = {"1": node("FlowInt", value=5), "2": node("FlowDouble", value=["1", 0]),
              "3": node("FlowCollect", value=["2", 0])}
    res = executor.execute(prompt, "p")
    ephemeral = [n for n in res.executed if n not in prompt]
    assert ephemeral and all(n.startswith("2.") for n in ephemeral)


def test_nested_expansions_run_to_the_end(executor, calls):
    prompt = {"1": node("FlowInt", value=3), "2": node("FlowQuadruple", value=["1", 0]),
              "3": node("FlowCollect", value=["2", 0])}
    res = executor.execute(prompt, "p")
    assert res.success, res.error
    assert shown(res, "3") == [12]
    assert calls["FlowDouble"] == 2 and calls["FlowAdd"] == 2


def test_recursive_expansion_loops_until_it_stops(executor, calls):
    prompt = {"1": node("FlowInt", value=0), "2": node("FlowInt", value=7),
              "3": node("FlowCountdown", remaining=4, total=["1", 0], step=["2", 0]),
              "4": node("FlowCollect", value=["3", 0])}
    res = executor.execute(prompt, "p")
    assert res.success, res.error
    assert shown(res, "4") == [28]
    assert calls["FlowCountdown"] == 5


def test_cycle_in_an_expansion_fails_on_the_generating_node(executor):
    prompt = {"1": node("FlowInt", value=1), "2": node("FlowCycle", value=["1", 0]),
              "3": node("FlowCollect", value=["2", 0])}
    res = executor.execute(prompt, "p")
    assert not res.success
    assert res.error["node_id"] == "2" and res.error["node_type"] == "FlowCycle"
    assert "cycle" in res.error["exception_message"]


def test_rerun_serves_the_expanded_node_from_the_cache(executor, calls):
    prompt = {"1": node("FlowInt", value=2), "2": node("FlowQuadruple", value=["1", 0]),
              "3": node("FlowCollect", value=["2", 0])}
    executor.execute(prompt, "a")
    calls.clear()
    res = executor.execute(prompt, "b")
    assert res.success and res.executed == []
    assert shown(res, "3") == [8]


def test_raw_link_input_receives_the_link_itself(executor):
    prompt = {"1": node("FlowInt", value=2), "2": node("FlowRaw", source=["1", 0]),
              "3": node("FlowCollect", value=["2", 0])}
    res = executor.execute(prompt, "p")
    assert shown(res, "3") == ["1:0"]


def test_headless_progress_line_shows_expansion_nodes_as_their_parent():
    import io

    from core.cli.headless import ProgressPrinter

    stream = io.StringIO()
    stream.isatty = lambda: True
    printer = ProgressPrinter({"2": node("FlowDouble", value=1)}, stream=stream)
    printer("executing", {"node": "2.0.0.1", "display_node": "2", "prompt_id": "p"})
    assert stream.getvalue().endswith("#2 FlowDouble")


def test_expansion_reads_the_live_prompt_and_shows_as_the_original_node(executor):
    events = []
    prompt = {"1": node("FlowInt", value=10), "2": node("FlowRepeat", value=["1", 0], times=3),
              "3": node("FlowCollect", value=["2", 0])}
    res = executor.execute(prompt, "p", emit=lambda e, d: events.append((e, d)))
    assert res.success, res.error
    assert res.outputs["3"]["value"] == [13]
    ephemeral = [d for e, d in events if e == "executing" and d["node"] and d["node"] not in prompt]
    assert len(ephemeral) == 6 and {d["display_node"] for d in ephemeral} == {"2"}
    final = [d for e, d in events if e == "progress_state"][-1]["nodes"]
    deepest = max((n for n in final if n not in prompt), key=len)
    assert final[deepest]["real_node_id"] == "2" and final[deepest]["display_node_id"] == "2"
    assert final[deepest]["parent_node_id"] not in (None, "2")  # nested: its parent is itself an expansion node
