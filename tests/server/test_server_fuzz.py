"""Hypothesis fuzz: malformed prompts get 400 with node_errors, never a crash, and the server keeps answering.

Every generated body carries at least one deliberate defect (so a 200 would be a real bug), mixed with
random noise elsewhere. The server runs in-process on one event loop reused across examples.
"""
import asyncio
import json

import pytest
from hypothesis import given, strategies as st

from fuzzprofile import FUZZ
from serverkit import make_registry

CLASSES = ["SrvNumber", "SrvSum", "SrvShow", "SrvSlow", "SrvBoom"]
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20),
                         st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                                 st.dictionaries(st.text(max_size=6), inner, max_size=4)),
                           max_leaves=10)


def base_prompt(a, b):
    return {"1": {"class_type": "SrvNumber", "inputs": {"value": a}},
            "2": {"class_type": "SrvNumber", "inputs": {"value": b}},
            "3": {"class_type": "SrvSum", "inputs": {"a": ["1", 0], "b": ["2", 0]}},
            "4": {"class_type": "SrvShow", "inputs": {"value": ["3", 0]}}}


@st.composite
def malformed_bodies(draw):
    prompt = base_prompt(draw(st.integers(-1000, 1000)), draw(st.integers(-1000, 1000)))
    # noise: extra nodes of random classes with random inputs (never output nodes, so they cannot
    # make an otherwise broken prompt valid)
    for i in range(draw(st.integers(0, 3))):
        prompt[f"n{i}"] = {"class_type": draw(st.sampled_from(["SrvNumber", "SrvSum", "SrvSlow"])),
                           "inputs": draw(st.dictionaries(st.sampled_from(["value", "a", "b", "steps", "x"]),
                                                          json_values, max_size=3))}
    defect = draw(st.integers(0, 13))
    target = draw(st.sampled_from(["1", "2", "3", "4"]))
    if defect == 0:
        return {"prompt": draw(st.one_of(json_scalars, st.lists(json_values, max_size=3)))}
    if defect == 1:
        prompt[target] = draw(st.one_of(json_scalars, st.lists(json_values, max_size=3)))
    elif defect == 2:
        prompt[target].pop("class_type")
    elif defect == 3:
        prompt[target]["class_type"] = draw(st.one_of(st.text(max_size=10).filter(lambda s: s not in CLASSES),
                                                      st.integers(), st.none(), st.lists(st.text(), max_size=2)))
    elif defect == 4:
        prompt["3"]["inputs"].pop(draw(st.sampled_from(["a", "b"])))
    elif defect == 5:
        prompt["3"]["inputs"]["a"] = [draw(st.text(max_size=5).filter(lambda s: s not in prompt)), 0]
    elif defect == 6:
        prompt["3"]["inputs"]["b"] = ["2", draw(st.one_of(st.integers(1, 10**6), st.integers(-10**6, -1)))]
    elif defect == 7:
        prompt["4"]["inputs"]["value"] = draw(st.sampled_from([["3"], ["3", 0, 0], [], ["3", 0, "x", None]]))
    elif defect == 8:
        prompt["1"]["inputs"]["value"] = draw(st.one_of(st.integers(1001, 10**12), st.integers(-10**12, -1001)))
    elif defect == 9:
        prompt["2"]["inputs"]["value"] = draw(st.one_of(
            st.text(min_size=1, max_size=8).filter(lambda s: not s.strip().lstrip("+-").isdigit()),
            st.dictionaries(st.text(max_size=3), json_scalars, min_size=1, max_size=2)))
    elif defect == 10:
        prompt["4"]["inputs"]["value"] = ["4", 0]  # Show has no outputs; also a self-cycle
    elif defect == 11:
        del prompt["4"]  # no output node left
    elif defect == 12:
        prompt[target]["inputs"] = draw(st.one_of(json_scalars, st.lists(json_scalars, max_size=3)))
    else:
        prompt["3"]["inputs"]["a"] = ["3", 0]  # a cycle through the sum
    body = {"prompt": prompt}
    if draw(st.booleans()):
        body["client_id"] = draw(st.text(max_size=8))
    if draw(st.booleans()):
        body["extra_data"] = draw(st.dictionaries(st.text(max_size=5), json_values, max_size=2))
    return body


@pytest.fixture(scope="module")
def fuzz_client(tmp_path_factory):
    from aiohttp.test_utils import TestClient, TestServer

    from core import paths
    from core.server import ServerConfig, create_app

    base = tmp_path_factory.mktemp("fuzz")
    folders = paths.Folders(base=base)
    loop = asyncio.new_event_loop()
    app = create_app(make_registry(), ServerConfig(folders=folders, db_path=base / "q.db", web_root=base),
                     start_worker=False)
    client = TestClient(TestServer(app), loop=loop)
    loop.run_until_complete(client.start_server())
    yield loop, client
    loop.run_until_complete(client.close())
    loop.close()


@FUZZ
@given(body=malformed_bodies())
def test_malformed_prompt_gets_400_with_node_errors(fuzz_client, body):
    loop, client = fuzz_client

    async def post():
        resp = await client.post("/prompt", data=json.dumps(body), headers={"Content-Type": "application/json"})
        return resp.status, await resp.json()

    status, answer = loop.run_until_complete(post())
    assert status == 400, (body, answer)
    assert "node_errors" in answer and isinstance(answer["error"], dict) and answer["error"]["type"]


def test_server_still_answers_after_the_fuzz(fuzz_client):
    loop, client = fuzz_client

    async def stats():
        resp = await client.get("/system_stats")
        return resp.status, await resp.json()

    status, data = loop.run_until_complete(stats())
    assert status == 200 and data["system"]["instance_id"]
    queue = loop.run_until_complete(client.get("/queue"))
    assert loop.run_until_complete(queue.json())["queue_pending"] == []
