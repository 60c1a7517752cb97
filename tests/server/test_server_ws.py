"""The websocket: message sequence of a job, binary preview frames, routing by clientId (docs/comfy-api.md §2)."""
import asyncio
import io
import json
import struct

from aiohttp import WSMsgType
from PIL import Image

from serverkit import async_test, served, slow_prompt


async def collect(ws, prompt_id, timeout=15.0):
    """Every frame until ``executing`` with node null for prompt_id, then the status that follows."""
    frames = []
    done = False
    while True:
        msg = await asyncio.wait_for(ws.receive(), timeout)
        if msg.type == WSMsgType.TEXT:
            data = json.loads(msg.data)
            frames.append(data)
            if done and data["type"] == "status":
                return frames
            if data["type"] == "executing" and data["data"].get("node") is None \
                    and data["data"].get("prompt_id") == prompt_id:
                done = True
        elif msg.type == WSMsgType.BINARY:
            frames.append(msg.data)
        else:
            raise AssertionError(f"socket closed: {msg}")


@async_test
async def test_connect_sends_status_with_the_session_id(folders):
    async with served(folders, start_worker=False) as c:
        ws = await c.ws_connect("/ws?clientId=client-1")
        first = await ws.receive_json(timeout=5)
        assert first == {"type": "status", "data": {"status": {"exec_info": {"queue_remaining": 0}}, "sid": "client-1"}}
        await ws.close()


@async_test
async def test_connect_without_client_id_gets_a_generated_sid(folders):
    async with served(folders, start_worker=False) as c:
        ws = await c.ws_connect("/api/ws")
        first = await ws.receive_json(timeout=5)
        assert len(first["data"]["sid"]) == 32
        await ws.close()


@async_test
async def test_a_job_produces_the_full_comfy_message_sequence_with_binary_previews(folders):
    async with served(folders) as c:
        ws = await c.ws_connect("/ws?clientId=me")
        await ws.receive_json(timeout=5)
        resp = await c.post("/prompt", json={"prompt": slow_prompt(value=7, steps=3), "client_id": "me"})
        pid = (await resp.json())["prompt_id"]
        frames = await collect(ws, pid)
        await ws.close()
    texts = [f for f in frames if isinstance(f, dict)]
    kinds = [f["type"] for f in texts]
    seq = [k for k in kinds if k != "status"]
    assert seq[:3] == ["execution_start", "execution_cached", "executing"]
    assert seq[-2:] == ["execution_success", "executing"] and kinds[-1] == "status"
    assert [f["data"]["value"] for f in texts if f["type"] == "progress"] == [1, 2, 3]
    assert all(f["data"]["prompt_id"] == pid for f in texts if f["type"] != "status")
    executed = [f["data"] for f in texts if f["type"] == "executed"]
    assert executed == [{"node": "2", "display_node": "2", "output": {"text": ["7"]}, "prompt_id": pid}]
    binary = [f for f in frames if isinstance(f, bytes)]
    assert len(binary) == 3
    event, fmt = struct.unpack(">II", binary[0][:8])
    assert (event, fmt) == (1, 1)  # PREVIEW_IMAGE, JPEG
    assert Image.open(io.BytesIO(binary[0][8:])).size == (16, 8)


@async_test
async def test_history_is_written_before_the_done_message(folders):
    async with served(folders) as c:
        ws = await c.ws_connect("/ws?clientId=me")
        await ws.receive_json(timeout=5)
        pid = (await (await c.post("/prompt", json={"prompt": slow_prompt(steps=1, preview=False),
                                                   "client_id": "me"})).json())["prompt_id"]
        while True:
            data = await ws.receive_json(timeout=10)
            if data["type"] == "execution_success":
                break
        history = await (await c.get(f"/history/{pid}")).json()
        assert history[pid]["status"]["status_str"] == "success"
        await ws.close()


@async_test
async def test_execution_events_go_only_to_the_submitting_client(folders):
    async with served(folders) as c:
        mine = await c.ws_connect("/ws?clientId=mine")
        other = await c.ws_connect("/ws?clientId=other")
        await mine.receive_json(timeout=5)
        await other.receive_json(timeout=5)
        pid = (await (await c.post("/prompt", json={"prompt": slow_prompt(steps=2), "client_id": "mine"})).json())["prompt_id"]
        await collect(mine, pid)
        await asyncio.sleep(0.1)
        seen = []
        while True:
            try:
                msg = await other.receive(timeout=0.2)
            except asyncio.TimeoutError:
                break
            seen.append(json.loads(msg.data)["type"] if msg.type == WSMsgType.TEXT else "binary")
        assert seen and set(seen) == {"status"}
        await mine.close()
        await other.close()


@async_test
async def test_progress_and_previews_are_broadcast_when_the_prompt_has_no_client_id(folders):
    async with served(folders) as c:
        ws = await c.ws_connect("/ws?clientId=watcher")
        await ws.receive_json(timeout=5)
        await c.post("/prompt", json={"prompt": slow_prompt(steps=2)})
        kinds = []
        while "status" not in kinds[1:] or kinds.count("progress") < 2:
            msg = await ws.receive(timeout=10)
            kinds.append(json.loads(msg.data)["type"] if msg.type == WSMsgType.TEXT else "binary")
        assert kinds.count("binary") == 2 and "execution_start" not in kinds
        await ws.close()


@async_test
async def test_feature_flags_handshake_switches_previews_to_frames_with_metadata(folders):
    async with served(folders) as c:
        ws = await c.ws_connect("/ws?clientId=new")
        await ws.receive_json(timeout=5)
        await ws.send_str(json.dumps({"type": "feature_flags", "data": {"supports_preview_metadata": True}}))
        reply = await ws.receive_json(timeout=5)
        assert reply["type"] == "feature_flags" and reply["data"]["supports_preview_metadata"] is True
        pid = (await (await c.post("/prompt", json={"prompt": slow_prompt(steps=1), "client_id": "new"})).json())["prompt_id"]
        frames = await collect(ws, pid)
        await ws.close()
    frame = next(f for f in frames if isinstance(f, bytes))
    event, length = struct.unpack(">II", frame[:8])
    meta = json.loads(frame[8:8 + length])
    assert event == 4
    assert meta["node_id"] == "1" and meta["prompt_id"] == pid and meta["image_type"] == "image/jpeg"
    assert Image.open(io.BytesIO(frame[8 + length:])).format == "JPEG"


@async_test
async def test_reconnecting_with_the_same_client_id_replaces_the_old_socket(folders):
    async with served(folders, start_worker=False) as c:
        old = await c.ws_connect("/ws?clientId=same")
        await old.receive_json(timeout=5)
        new = await c.ws_connect("/ws?clientId=same")
        await new.receive_json(timeout=5)
        msg = await old.receive(timeout=5)
        assert msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING)
        await new.close()
