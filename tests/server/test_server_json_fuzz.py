"""Hypothesis fuzz of every JSON route and the websocket of a real server process: never a 5xx, every
answer with a body is strict JSON (what a browser's JSON.parse reads), and the server still answers.

Bodies mix valid JSON, prompt-shaped objects with hostile fields, NaN/Infinity/1e400/huge integers,
deep nesting and raw bytes. The example count comes from the ``latentflow-server-fuzz`` profile:
a few hundred by default, ``LATENTFLOW_FUZZ_EXAMPLES=5000`` for a long run (tests/server/fuzzprofile.py).
"""
import asyncio
import json
from urllib.parse import quote

import pytest
from hypothesis import given, strategies as st

from fuzzprofile import FUZZ
from serverproc import Server, strict_json


WRITE_ROUTES = [("POST", r) for r in ("/prompt", "/queue", "/history", "/interrupt", "/settings",
                                      "/settings/{seg}", "/free", "/jobs/cancel", "/jobs/{seg}/cancel",
                                      "/api/prompt", "/users")] + [("PATCH", "/internal/logs/subscribe")]
GET_ROUTES = ["/prompt", "/queue", "/history", "/history?max_items={q}&offset={q}", "/history/{seg}",
              "/jobs?status={q}&sort_by={q}&sort_order={q}&limit={q}&offset={q}", "/jobs/{seg}", "/job/{seg}",
              "/object_info/{seg}", "/models", "/models/{seg}", "/view_metadata/{seg}?filename={q}",
              "/settings", "/settings/{seg}", "/embeddings", "/extensions", "/features", "/system_stats",
              "/schema/{seg}", "/view?filename={q}&type={q}&subfolder={q}&channel={q}&preview={q}",
              "/userdata?dir={q}", "/v2/userdata?path={q}", "/api/jobs?limit={q}",
              "/internal/logs", "/internal/logs/raw", "/internal/folder_paths", "/internal/files/{seg}",
              "/experiment/models", "/experiment/models/{seg}", "/experiment/models/preview/{seg}/{q}/{q}",
              "/i18n", "/global_subgraphs", "/global_subgraphs/{seg}", "/node_replacements",
              "/workflow_templates"]
WS_MAX_MESSAGE = 1 << 20  # core/server/ws.py's max_msg_size
HOSTILE_NUMBERS = ["NaN", "Infinity", "-Infinity", "1e400", "-1e999", "1" + "0" * 25, "-" + "9" * 400,
                   "18446744073709551616", "1e-400", "0.1e310"]

scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**64 + 1, 2**64 - 1),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=10))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=6), inner, max_size=4)),
                      max_leaves=12)


def node(class_type, inputs):
    return {"class_type": class_type, "inputs": inputs}


@st.composite
def prompt_bodies(draw):
    """Objects shaped like POST /prompt bodies, every field possibly hostile."""
    a, b = draw(scalars), draw(st.one_of(st.integers(-1000, 1000), values))
    prompt = {"1": node("SrvNumber", {"value": a}), "2": node("SrvNumber", {"value": b}),
              "3": node("SrvSum", {"a": ["1", 0], "b": ["2", draw(st.one_of(st.just(0), scalars))]}),
              "4": node("SrvShow", {"value": ["3", 0]})}
    body = {"prompt": draw(st.one_of(st.just(prompt), values))}
    for key, strategy in (("extra_data", values), ("client_id", scalars), ("number", scalars),
                          ("front", scalars), ("prompt_id", st.one_of(scalars, st.uuids().map(str))),
                          ("partial_execution_targets", values), ("clear", scalars), ("delete", values),
                          ("job_ids", values), ("unload_models", scalars)):
        if draw(st.booleans()):
            body[key] = draw(strategy)
    return json.dumps(body)


@st.composite
def hostile_json(draw):
    """Valid JSON text with one hostile token spliced in where a value goes."""
    token = draw(st.sampled_from(HOSTILE_NUMBERS))
    text = json.dumps(draw(values))
    where = draw(st.sampled_from(["array", "prompt", "extra", "number"]))
    if where == "array":
        return f"[{text}, {token}]"
    if where == "prompt":
        return '{"prompt": {"1": {"class_type": "SrvNumber", "inputs": {"value": %s}}}}' % token
    if where == "extra":
        return '{"prompt": %s, "extra_data": {"x": [%s, %s]}}' % (text, text, token)
    return '{"prompt": {}, "number": %s, "x": %s}' % (token, text)


@st.composite
def deep_json(draw):
    n = draw(st.one_of(st.integers(90, 130), st.sampled_from([1000, 5000, 100_000])))
    opener = draw(st.sampled_from(["[", '{"a":', '{"prompt":', '{"type": "feature_flags", "data":']))
    closer = {"[": "]"}.get(opener, "}")
    closed = draw(st.booleans())
    return opener * n + ("1" + closer * n if closed else "")


bodies = st.one_of(prompt_bodies(), hostile_json(), deep_json(), values.map(json.dumps),
                   st.text(max_size=60), st.binary(max_size=60), st.just(""))
segments = st.text(min_size=1, max_size=12).map(lambda s: quote(s, safe=""))
queries = st.one_of(st.text(max_size=12), st.integers().map(str), st.sampled_from(HOSTILE_NUMBERS)).map(
    lambda s: quote(s, safe=""))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("jsonfuzz")
    for d in ("input", "output", "temp", "models/checkpoints"):
        (base / d).mkdir(parents=True)
    with Server(base) as srv:
        yield srv


def check(answer, what):
    assert answer.status < 500, (what, answer)
    if answer.body:
        ctype = answer.headers.get("Content-Type", "")
        if ctype.startswith("application/json"):
            data = strict_json(answer.body)
            if answer.status >= 400:
                assert isinstance(data, dict) and data.get("error"), (what, answer)
        else:  # only /view and the model previews serve something other than JSON
            assert what.startswith(("GET /view", "GET /experiment/models/preview")) and ctype.startswith("image/"), \
                (what, answer)


@FUZZ
@given(route=st.sampled_from(WRITE_ROUTES), seg=segments, body=bodies)
def test_posting_anything_to_a_json_route_never_answers_5xx_or_non_json(server, route, seg, body):
    method, path = route[0], route[1].replace("{seg}", seg)
    check(server.call(method, path, body, {"Content-Type": "application/json"}), f"{method} {path} {body[:200]!r}")


@FUZZ
@given(route=st.sampled_from(GET_ROUTES), seg=segments, q=st.lists(queries, min_size=5, max_size=5))
def test_any_query_or_path_on_a_json_route_never_answers_5xx_or_non_json(server, route, seg, q):
    path = route.replace("{seg}", seg)
    for value in q:
        path = path.replace("{q}", value, 1)
    check(server.call("GET", path), f"GET {path}")


@FUZZ
@given(messages=st.lists(st.one_of(bodies.map(lambda b: b if isinstance(b, str) else b.decode("latin-1")),
                                   st.builds(lambda d: json.dumps({"type": "feature_flags", "data": d}), values)),
                         min_size=1, max_size=3))
def test_any_websocket_message_leaves_the_socket_open_and_every_frame_strict_json(server, messages):
    import aiohttp

    async def scenario():
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(f"{server.url}/ws?clientId=fuzz") as ws:
                assert strict_json((await ws.receive(timeout=10)).data)["type"] == "status"
                for text in messages:
                    if len(text.encode()) > WS_MAX_MESSAGE:
                        # past the frame limit the protocol's own answer is closing the socket (the
                        # server may reset the connection while the frame is still being sent)
                        try:
                            await ws.send_str(text)
                            while (msg := await ws.receive(timeout=10)).type == aiohttp.WSMsgType.TEXT:
                                strict_json(msg.data)
                        except (ConnectionError, aiohttp.ClientError):
                            return
                        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                                            aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.ERROR), msg
                        return
                    await ws.send_str(text)
                async with http.post(f"{server.url}/queue", json={}) as resp:  # broadcasts a status
                    assert resp.status == 200
                while True:
                    msg = await ws.receive(timeout=10)
                    assert msg.type == aiohttp.WSMsgType.TEXT, msg
                    if strict_json(msg.data)["type"] == "status":
                        break
    asyncio.run(scenario())


def test_the_server_still_answers_after_the_fuzz(server):
    stats = server.call("GET", "/system_stats")
    assert stats.status == 200 and stats.json()["system"]["instance_id"]
    for path in ("/queue", "/history", "/jobs", "/settings"):
        answer = server.call("GET", path)
        assert answer.status == 200, (path, answer)
        answer.json()
