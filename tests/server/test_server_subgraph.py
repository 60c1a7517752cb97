"""POST /prompt with a UI workflow that carries a subgraph: expanded as the frontend would, run, and broken
ones refused with every problem named."""
from serverkit import async_test, served, wait_history

SUB = "0d0d0d0d-1111-4222-8333-444444444444"


def node(i, kind, widgets=None, inputs=(), outputs=()):
    out = {"id": i, "type": kind, "pos": [0, 0], "size": [100, 50], "flags": {}, "order": 0, "mode": 0,
           "inputs": list(inputs), "outputs": list(outputs), "properties": {}}
    if widgets is not None:
        out["widgets_values"] = widgets
    return out


def workflow(promoted=5, inner_sum="SrvSum") -> dict:
    """Root SrvNumber(4) -> [subgraph 7: SrvNumber 2 (value promoted) + Sum 3] -> SrvShow."""
    definition = {
        "id": SUB, "name": "Add", "inputNode": {"id": -10}, "outputNode": {"id": -20},
        "inputs": [{"id": "a", "name": "a", "type": "INT", "linkIds": [11]},
                   {"id": "v", "name": "value", "type": "INT", "linkIds": [12]}],
        "outputs": [{"id": "o", "name": "INT", "type": "INT", "linkIds": [13]}],
        "nodes": [node(2, "SrvNumber", [1], inputs=[{"name": "value", "type": "INT", "widget": {"name": "value"},
                                                      "link": 12}],
                       outputs=[{"name": "INT", "type": "INT", "links": [14]}]),
                  node(3, inner_sum, [], inputs=[{"name": "a", "type": "INT", "link": 11},
                                                 {"name": "b", "type": "INT", "link": 14}],
                       outputs=[{"name": "INT", "type": "INT", "links": [13]}])],
        "links": [{"id": 11, "origin_id": -10, "origin_slot": 0, "target_id": 3, "target_slot": 0, "type": "INT"},
                  {"id": 12, "origin_id": -10, "origin_slot": 1, "target_id": 2, "target_slot": 0, "type": "INT"},
                  {"id": 14, "origin_id": 2, "origin_slot": 0, "target_id": 3, "target_slot": 1, "type": "INT"},
                  {"id": 13, "origin_id": 3, "origin_slot": 0, "target_id": -20, "target_slot": 0, "type": "INT"}]}
    return {"last_node_id": 7, "last_link_id": 2, "version": 0.4, "groups": [], "config": {}, "extra": {},
            "definitions": {"subgraphs": [definition]},
            "nodes": [node(1, "SrvNumber", [4], outputs=[{"name": "INT", "type": "INT", "links": [1]}]),
                      node(7, SUB, [promoted], inputs=[{"name": "a", "type": "INT", "link": 1},
                                                       {"name": "value", "type": "INT", "widget": {"name": "value"},
                                                        "link": None}],
                           outputs=[{"name": "INT", "type": "INT", "links": [2]}]),
                      node(9, "SrvShow", [], inputs=[{"name": "value", "type": "INT", "link": 2}])],
            "links": [[1, 1, 0, 7, 0, "INT"], [2, 7, 0, 9, 0, "INT"]]}


@async_test
async def test_a_ui_workflow_with_a_subgraph_runs_under_instance_colon_inner_ids(folders):
    async with served(folders) as c:
        resp = await c.post("/prompt", json={"prompt": workflow(promoted=5)})
        assert resp.status == 200, await resp.text()
        entry = await wait_history(c, (await resp.json())["prompt_id"])
        assert entry["outputs"]["9"] == {"text": ["9"]}
        assert entry["prompt"][2]["7:3"]["inputs"] == {"a": ["1", 0], "b": ["7:2", 0]}
        assert entry["prompt"][2]["7:2"]["inputs"] == {"value": 5}


@async_test
async def test_a_subgraph_with_an_unknown_inner_type_and_a_bad_value_reports_both(folders):
    async with served(folders, start_worker=False) as c:
        resp = await c.post("/prompt", json={"prompt": workflow(promoted=5000, inner_sum="NoSuchSum")})
        assert resp.status == 400
        body = await resp.json()
        errors = {k: [e["type"] for e in v["errors"]] for k, v in body["node_errors"].items()}
        assert errors == {"7:3": ["missing_node_type"], "7:2": ["value_bigger_than_max"]}
