"""Against a real ``main.py`` server process with the flowpack loaded through extra_model_paths.yaml:
progress_state isolation between websocket clients, empty partial targets, --database."""
import asyncio
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import aiohttp
import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MainServer:
    def __init__(self, base: Path, *extra):
        base.mkdir(parents=True, exist_ok=True)
        (base / "extra_model_paths.yaml").write_text(f"flow:\n  custom_nodes: {HERE / 'packs'}\n")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = base / "server.log"
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, str(REPO / "main.py"), "--port", str(self.port), "--base-directory", str(base),
             "--extra-model-paths-config", str(base / "extra_model_paths.yaml"), "--cpu", *extra],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=base)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited: {self.log_path.read_text()}")
            try:
                self.get("/object_info/FlowInt")
                return
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        raise AssertionError("server did not start")

    def get(self, path):
        with urllib.request.urlopen(self.url + path, timeout=10) as r:
            return json.loads(r.read())

    def post(self, path, body):
        req = urllib.request.Request(self.url + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = MainServer(tmp_path_factory.mktemp("exec-server"), "--database", ":memory:")
    yield srv
    srv.stop()


def sleepy_prompt(value):
    return {"1": {"class_type": "FlowInt", "inputs": {"value": value}},
            "2": {"class_type": "FlowAsyncSleep", "inputs": {"value": ["1", 0], "seconds": 0.2}},
            "3": {"class_type": "FlowCollect", "inputs": {"value": ["2", 0]}}}


async def run_client(server, client_id, value, start):
    """Connect, wait for the other client, queue a prompt, collect messages until it ends."""
    messages = []
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"ws://127.0.0.1:{server.port}/ws?clientId={client_id}") as ws:
            await start.wait()
            async with session.post(server.url + "/prompt",
                                    json={"prompt": sleepy_prompt(value), "client_id": client_id}) as r:
                assert r.status == 200, await r.text()
                prompt_id = (await r.json())["prompt_id"]
            done_for = set()
            deadline = time.monotonic() + 60  # the first job waits for torch to finish importing
            # stay until both prompts ended, so messages about the other one would have arrived
            while len(done_for) < 2 and time.monotonic() < deadline:
                try:
                    msg = await ws.receive(timeout=max(0.1, deadline - time.monotonic()))
                except asyncio.TimeoutError:
                    break
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                data = json.loads(msg.data)
                messages.append(data)
                if data["type"] == "executing" and data["data"].get("node") is None:
                    done_for.add(data["data"]["prompt_id"])
                if data["type"] == "status" and prompt_id in done_for and \
                        data["data"]["status"]["exec_info"]["queue_remaining"] == 0:
                    break
    return prompt_id, messages


def test_each_client_gets_progress_state_of_its_own_prompt_only(server):
    async def main():
        start = asyncio.Event()
        a = asyncio.create_task(run_client(server, "client-a-" + uuid.uuid4().hex, 1, start))
        b = asyncio.create_task(run_client(server, "client-b-" + uuid.uuid4().hex, 2, start))
        await asyncio.sleep(0.5)
        start.set()
        return await a, await b

    (pid_a, msgs_a), (pid_b, msgs_b) = asyncio.run(main())
    for own, msgs in ((pid_a, msgs_a), (pid_b, msgs_b)):
        states = [m["data"] for m in msgs if m["type"] == "progress_state"]
        assert states, "no progress_state for the client's own prompt"
        assert {s["prompt_id"] for s in states} == {own}
        assert all(n["prompt_id"] == own for s in states for n in s["nodes"].values())
        assert states[-1]["nodes"]["3"]["state"] == "finished"


def test_progress_state_entries_carry_comfyui_fields(server):
    async def main():
        start = asyncio.Event()
        start.set()
        return await run_client(server, "client-c", 3, start)

    _pid, msgs = asyncio.run(main())
    entry = [m["data"] for m in msgs if m["type"] == "progress_state"][-1]["nodes"]["2"]
    assert set(entry) == {"value", "max", "state", "node_id", "prompt_id", "display_node_id", "parent_node_id",
                          "real_node_id"}


def test_empty_partial_execution_targets_are_refused_with_400(server):
    prompt = {"1": {"class_type": "FlowInt", "inputs": {"value": 1}},
              "2": {"class_type": "FlowCollect", "inputs": {"value": ["1", 0]}}}
    with pytest.raises(urllib.error.HTTPError) as e:
        server.post("/prompt", {"prompt": prompt, "partial_execution_targets": []})
    assert e.value.code == 400
    assert json.loads(e.value.read())["error"]["type"] == "prompt_no_outputs"


def test_async_validation_refusal_is_a_400_over_http(server):
    prompt = {"1": {"class_type": "FlowAsyncChecked", "inputs": {"value": 50, "limit": 10}},
              "2": {"class_type": "FlowCollect", "inputs": {"value": ["1", 0]}}}
    with pytest.raises(urllib.error.HTTPError) as e:
        server.post("/prompt", {"prompt": prompt})
    assert e.value.code == 400
    body = json.loads(e.value.read())
    assert "50 is above the limit 10" in body["node_errors"]["1"]["errors"][0]["details"]


def test_database_flag_gives_a_server_its_own_history_file(tmp_path):
    db = tmp_path / "own.db"
    first = MainServer(tmp_path / "one", "--database", str(db))
    try:
        pid = first.post("/prompt", {"prompt": sleepy_prompt(4)})["prompt_id"]
        deadline = time.monotonic() + 60  # the first job waits for torch to finish importing
        while pid not in first.get("/history") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert pid in first.get("/history")
    finally:
        first.stop()
    assert db.is_file()
    fresh = MainServer(tmp_path / "two", "--database", str(tmp_path / "other.db"))
    try:
        assert fresh.get("/history") == {}
    finally:
        fresh.stop()
    again = MainServer(tmp_path / "three", "--database", str(db))
    try:
        assert pid in again.get("/history")
    finally:
        again.stop()
