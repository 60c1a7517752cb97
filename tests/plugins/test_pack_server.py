"""A third-party pack under the real server: its routes, its websocket messages, its prompt hooks."""
from __future__ import annotations

import asyncio
import json
import struct
import uuid

import pytest


@pytest.fixture()
def pack(registry, packs_dir, folders):
    from core.custom_nodes import load_custom_nodes

    (folders.models_dir / "checkpoints").mkdir(parents=True)
    (folders.models_dir / "checkpoints" / "tiny.safetensors").write_bytes(b"")
    load_custom_nodes(registry, [packs_dir])
    assert "TP_Report" in registry
    return registry


def serve(registry, folders, coro_fn):
    from aiohttp.test_utils import TestClient, TestServer

    from core.server import ServerConfig, create_app

    async def main():
        cfg = ServerConfig(folders=folders, db_path=folders.base / "queue.db", web_root=folders.base / "web")
        async with TestClient(TestServer(create_app(registry, cfg))) as client:
            await asyncio.wait_for(coro_fn(client), 30)

    asyncio.run(main())


PROMPT = {"1": {"class_type": "TP_StepCounter", "inputs": {"steps": 2, "ckpt_name": "tiny.safetensors",
                                                          "sampler_name": "euler"}},
          "2": {"class_type": "TP_Report", "inputs": {"value": ["1", 0]}}}


def test_pack_routes_are_served_bare_and_under_api(pack, folders):
    async def check(client):
        for path in ("/thirdparty/hello", "/api/thirdparty/hello"):
            resp = await client.get(path)
            assert resp.status == 200, path
            assert await resp.json() == {"hello": "world"}

    serve(pack, folders, check)


def test_send_sync_reaches_the_jobs_websocket_client(pack, folders):
    async def check(client):
        sid = uuid.uuid4().hex
        ws = await client.ws_connect(f"/ws?clientId={sid}")
        resp = await client.post("/prompt", json={"prompt": PROMPT, "client_id": sid})
        assert resp.status == 200, await resp.text()
        prompt_id = (await resp.json())["prompt_id"]
        reports, frames = [], []
        while True:
            msg = await ws.receive(timeout=20)
            if msg.type.name == "BINARY":
                frames.append(msg.data)
                continue
            data = json.loads(msg.data)
            if data["type"] == "thirdparty.report":
                reports.append(data["data"])
            if data["type"] in ("execution_success", "execution_error"):
                assert data["type"] == "execution_success", data
                assert data["data"]["prompt_id"] == prompt_id
                break
        await ws.close()
        assert reports == [{"value": 4, "node": "2"}]
        assert struct.pack(">I", 9) + b"raw" in frames

    serve(pack, folders, check)


def test_on_prompt_handlers_see_and_may_rewrite_the_api_prompt(pack, folders):
    import server

    seen = []

    def hook(json_data):
        seen.append(json_data["prompt"]["1"]["class_type"])
        json_data["prompt"]["1"]["inputs"]["steps"] = 5
        return json_data

    handlers = server.PromptServer.instance._prompt_handlers
    handlers.append(hook)
    try:
        async def check(client):
            resp = await client.post("/prompt", json={"prompt": PROMPT})
            assert resp.status == 200, await resp.text()
            prompt_id = (await resp.json())["prompt_id"]
            for _ in range(500):
                history = await (await client.get(f"/history/{prompt_id}")).json()
                if prompt_id in history:
                    break
                await asyncio.sleep(0.02)
            entry = history[prompt_id]
            assert entry["outputs"]["2"] == {"value": [10]}

        serve(pack, folders, check)
    finally:
        handlers.remove(hook)
    assert seen == ["TP_StepCounter"]
