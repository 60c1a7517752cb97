"""ComfyUI's three example API scripts (script_examples/ in ComfyUI: basic_api_example.py,
websockets_api_example.py, websockets_api_example_ws_images.py) against a real Latentflow server.

Each test follows one script's documented flow with the same client calls (urllib for HTTP; for the
websocket the scripts use websocket-client, here ``websockets``' sync client, whose ``recv()`` gives
text frames as str and binary frames as bytes just the same). The prompt is the default SD1.5 graph
the scripts embed (tests/data/workflows/default.api.derived.json) with the changes each script makes,
a small image and few steps, on a tiny SD1.5 checkpoint named as the graph names it.
"""
from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
ws_client = pytest.importorskip("websockets.sync.client", reason="websockets (requirements.txt) is not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """host:port of a `main.py` server with a tiny SD1.5 checkpoint, and its base directory."""
    from core.models.tiny import write_tiny_checkpoint

    base = tmp_path_factory.mktemp("api_scripts")
    write_tiny_checkpoint(base / "models" / "checkpoints" / "v1-5-pruned-emaonly-fp16.safetensors", "sd15")
    port = _free_port()
    log = open(base / "server.log", "w")
    proc = subprocess.Popen([sys.executable, str(REPO / "main.py"), "--cpu", "--port", str(port),
                             "--base-directory", str(base)], cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    log.close()
    address = f"127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        try:
            urllib.request.urlopen(f"http://{address}/system_stats", timeout=2).read()
            break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                raise RuntimeError("server did not start:\n" + (base / "server.log").read_text()[-3000:])
            time.sleep(0.2)
    try:
        yield {"address": address, "base": base}
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def script_prompt(save_node_id="9", save_class="SaveImage") -> dict:
    """The scripts' default graph, with the text and seed they set, made small for the CPU."""
    from tests.testdata import workflow

    prompt = json.loads(workflow("default.api.derived.json").read_text())
    prompt["6"]["inputs"]["text"] = "masterpiece best quality man"
    prompt["3"]["inputs"]["seed"] = 5
    prompt["3"]["inputs"]["steps"] = 2
    prompt["5"]["inputs"].update(width=64, height=64)
    save = prompt.pop("9")
    inputs = {"images": save["inputs"]["images"]}
    if save_class == "SaveImage":
        inputs["filename_prefix"] = save["inputs"]["filename_prefix"]
    prompt[save_node_id] = {"class_type": save_class, "inputs": inputs}
    return prompt


def queue_prompt(address, body) -> dict:
    req = urllib.request.Request(f"http://{address}/prompt", data=json.dumps(body).encode("utf-8"))
    return json.loads(urllib.request.urlopen(req).read())


def get_history(address, prompt_id) -> dict:
    with urllib.request.urlopen(f"http://{address}/history/{prompt_id}") as response:
        return json.loads(response.read())


def get_image(address, filename, subfolder, folder_type) -> bytes:
    query = urllib.parse.urlencode({"filename": filename, "subfolder": subfolder, "type": folder_type})
    with urllib.request.urlopen(f"http://{address}/view?{query}") as response:
        return response.read()


def test_basic_api_example_queues_the_default_graph_and_it_saves_an_image(server):
    """basic_api_example.py: POST {"prompt"} and nothing else; the job runs and writes its PNG."""
    address = server["address"]
    prompt_id = queue_prompt(address, {"prompt": script_prompt()})["prompt_id"]
    deadline = time.time() + 120
    while prompt_id not in (history := get_history(address, prompt_id)):
        assert time.time() < deadline, "the job did not finish"
        time.sleep(0.2)
    entry = history[prompt_id]
    assert entry["status"]["status_str"] == "success", entry["status"]
    (image,) = entry["outputs"]["9"]["images"]
    assert (server["base"] / "output" / image["subfolder"] / image["filename"]).is_file()


def test_websockets_api_example_waits_for_done_then_downloads_images_from_history(server):
    """websockets_api_example.py: connect with a clientId, queue with client_id and its own prompt_id,
    read frames until ``executing`` with node None for that prompt, then /history and /view."""
    address, client_id = server["address"], str(uuid.uuid4())
    with ws_client.connect(f"ws://{address}/ws?clientId={client_id}") as ws:
        prompt_id = str(uuid.uuid4())
        queue_prompt(address, {"prompt": script_prompt(), "client_id": client_id, "prompt_id": prompt_id})
        seen = []
        while True:
            out = ws.recv(timeout=120)
            if isinstance(out, str):
                message = json.loads(out)
                seen.append(message["type"])
                if message["type"] == "executing":
                    data = message["data"]
                    if data["node"] is None and data["prompt_id"] == prompt_id:
                        break
    assert "execution_start" in seen and "executed" in seen
    history = get_history(address, prompt_id)[prompt_id]
    output_images = {node_id: [get_image(address, i["filename"], i["subfolder"], i["type"])
                               for i in out.get("images", [])] for node_id, out in history["outputs"].items()}
    (png,) = output_images["9"]
    assert Image.open(io.BytesIO(png)).size == (64, 64)


def test_websockets_api_example_ws_images_receives_full_size_pngs_from_save_image_websocket(server):
    """websockets_api_example_ws_images.py: while node ``save_image_websocket_node`` executes, each
    binary frame minus its 8-byte header is a PNG of the generated image; nothing is written to disk."""
    address, client_id = server["address"], str(uuid.uuid4())
    before = set((server["base"] / "output").rglob("*.png")) if (server["base"] / "output").exists() else set()
    with ws_client.connect(f"ws://{address}/ws?clientId={client_id}") as ws:
        prompt = script_prompt("save_image_websocket_node", "SaveImageWebsocket")
        prompt_id = queue_prompt(address, {"prompt": prompt, "client_id": client_id})["prompt_id"]
        output_images, headers, current_node = {}, [], ""
        while True:
            out = ws.recv(timeout=120)
            if isinstance(out, str):
                message = json.loads(out)
                if message["type"] == "executing":
                    data = message["data"]
                    if data["prompt_id"] == prompt_id:
                        if data["node"] is None:
                            break
                        current_node = data["node"]
            elif current_node == "save_image_websocket_node":
                headers.append(out[:8])
                output_images.setdefault(current_node, []).append(out[8:])
    (png,) = output_images["save_image_websocket_node"]
    assert headers == [(1).to_bytes(4, "big") + (2).to_bytes(4, "big")]  # event 1, format 2 = PNG
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size == (64, 64)
    after = set((server["base"] / "output").rglob("*.png")) if (server["base"] / "output").exists() else set()
    assert after == before
