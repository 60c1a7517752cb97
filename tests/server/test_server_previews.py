"""Live previews over the websocket from a real ``main.py`` process: ``--preview-method latent2rgb``
sends one binary preview frame per sampling step while the job runs (docs/comfy-api.md §2); the
default ``none`` sends none."""
from __future__ import annotations

import asyncio
import io
import json
import os
import socket
import struct
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

import tinyjobs

REPO = Path(__file__).resolve().parents[2]
STEPS = 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(base: Path, *flags) -> tuple[subprocess.Popen, str]:
    port = free_port()
    log = open(base / f"server-{port}.log", "wb")
    proc = subprocess.Popen([sys.executable, str(REPO / "main.py"), "--port", str(port), "--cpu",
                             "--base-directory", str(base),
                             "--database", str(base / f"queue-{port}.db"), *flags], cwd=REPO, stdout=log,
                            stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    log.close()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {(base / f'server-{port}.log').read_text()}")
        try:
            with urllib.request.urlopen(url + "/system_stats", timeout=2):
                return proc, url
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("server did not start")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    base = tmp_path_factory.mktemp("previews")
    tinyjobs.write_checkpoint(base / "models")
    return base


@pytest.fixture(scope="module")
def latent2rgb_server(base):
    proc, url = start(base, "--preview-method", "latent2rgb")
    yield url
    stop(proc)


async def _run(url: str, feature_flags: dict | None, seed: int) -> list:
    """Queue the tiny txt2img job; every websocket message until it ends: ("json", msg) / ("binary", bytes)."""
    import aiohttp

    client_id = uuid.uuid4().hex
    received = []
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"{url}/ws?clientId={client_id}") as ws:
            if feature_flags is not None:
                await ws.send_str(json.dumps({"type": "feature_flags", "data": feature_flags}))
            body = {"prompt": tinyjobs.txt2img_prompt(steps=STEPS, seed=seed), "client_id": client_id}
            async with session.post(f"{url}/prompt", json=body) as resp:
                assert resp.status == 200, await resp.text()
            while True:
                msg = await ws.receive(timeout=120)
                if msg.type == aiohttp.WSMsgType.BINARY:
                    received.append(("binary", msg.data))
                    continue
                assert msg.type == aiohttp.WSMsgType.TEXT, msg
                data = json.loads(msg.data)
                received.append(("json", data))
                if data["type"] in ("execution_success", "execution_error", "execution_interrupted"):
                    assert data["type"] == "execution_success", data
                    return received


def run_job(url: str, feature_flags: dict | None = None, seed: int = 1) -> list:
    """A new seed per job on the same server: a cached sampler would send no progress at all."""
    return asyncio.run(_run(url, feature_flags, seed))


def frames(received) -> list:
    return [data for kind, data in received if kind == "binary"]


def jpeg_size(data: bytes) -> tuple:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "JPEG"
        return image.size


def test_latent2rgb_sends_a_preview_frame_per_step_while_the_job_runs(latent2rgb_server):
    received = run_job(latent2rgb_server)
    binary = frames(received)
    assert len(binary) == STEPS, [kind if kind == "binary" else data["type"] for kind, data in received]
    for frame in binary:
        event, fmt = struct.unpack(">II", frame[:8])
        assert (event, fmt) == (1, 1)  # PREVIEW_IMAGE, JPEG
        assert jpeg_size(frame[8:]) == (8, 8)  # the 64 px image's 8x8 latent
    kinds = [kind if kind == "binary" else data["type"] for kind, data in received]
    first, last = kinds.index("binary"), len(kinds) - 1 - kinds[::-1].index("binary")
    assert kinds.index("execution_start") < first and last < kinds.index("execution_success")


def test_clients_announcing_preview_metadata_get_frames_naming_the_sampler_node(latent2rgb_server):
    binary = frames(run_job(latent2rgb_server, {"supports_preview_metadata": True}, seed=2))
    assert len(binary) == STEPS
    for frame in binary:
        event, size = struct.unpack(">II", frame[:8])
        meta = json.loads(frame[8:8 + size])
        assert event == 4 and meta["node_id"] == "3" and meta["image_type"] == "image/jpeg"
        assert jpeg_size(frame[8 + size:]) == (8, 8)


def test_without_a_preview_method_no_frames_are_sent(base):
    proc, url = start(base)
    try:
        received = run_job(url)
    finally:
        stop(proc)
    progress = [data for kind, data in received if kind == "json" and data["type"] == "progress"]
    assert len(progress) == STEPS and frames(received) == []
