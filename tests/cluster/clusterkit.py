"""Helpers for the cluster tests: a base folder with tiny checkpoints and the stand-in pack, a server
with a local Ray cluster running on a thread, and small HTTP/websocket clients."""
from __future__ import annotations

import asyncio
import json
import shutil
import socket
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CKPT_A, CKPT_B = "tiny_a.safetensors", "tiny_b.safetensors"


def make_base(base: Path) -> Path:
    """models/checkpoints with two tiny SD1.5 checkpoints; custom_nodes with the stand-in pack."""
    from core.models.tiny import write_tiny_checkpoint

    write_tiny_checkpoint(base / "models" / "checkpoints" / CKPT_A, "sd15", seed=1)
    write_tiny_checkpoint(base / "models" / "checkpoints" / CKPT_B, "sd15", seed=2)
    shutil.copytree(HERE / "clusterpack", base / "custom_nodes" / "clusterpack",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for d in ("input", "output", "temp", "user"):
        (base / d).mkdir(parents=True, exist_ok=True)
    return base


def sd_prompt(ckpt=CKPT_A, seed=0, hold=0.0, text="a red cube") -> dict:
    """The default SD1.5 graph at 64x64, one step; ``hold`` seconds of ClusterHold before sampling."""
    prompt = {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": text, "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["4", 1]}},
        "3": {"class_type": "KSampler", "inputs": {
            "seed": seed, "steps": 1, "cfg": 7.0, "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0,
            "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0]}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "cluster", "images": ["8", 0]}},
    }
    if hold:
        prompt["10"] = {"class_type": "ClusterHold", "inputs": {"samples": ["5", 0], "seconds": hold}}
        prompt["3"]["inputs"]["latent_image"] = ["10", 0]
    return prompt


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ThreadServer:
    """An aiohttp app served from its own event loop thread (a module-scoped fixture outlives tests)."""

    def __init__(self, app):
        self.app = app
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self):
        from aiohttp import web

        asyncio.set_event_loop(self.loop)
        self.runner = web.AppRunner(self.app)
        self.loop.run_until_complete(self.runner.setup())
        self.loop.run_until_complete(web.TCPSite(self.runner, "127.0.0.1", self.port).start())
        self._started.set()
        self.loop.run_forever()

    def start(self):
        self.thread.start()
        self._started.wait(30)
        return self

    def close(self):
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(120)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def build(base: Path, cluster_options=None, db_name="queue.db"):
    """(registry, ServerConfig) for ``base`` as main.py would set them up."""
    import main
    from core.cli import flags
    from core.server import ServerConfig

    args = flags.parse_args(["serve", "--base-directory", str(base), "--cpu"])
    registry = main.worker_setup(args)
    config = ServerConfig(db_path=base / "user" / db_name, web_root=base / "web", durable=False,
                          cluster=cluster_options, preview_method="latent2rgb")
    if cluster_options is not None:
        cluster_options.args = args
    return registry, config


def cluster_options(workers=2, on_loss="fail"):
    from core.cluster.options import ClusterOptions

    ray_tmp = tempfile.mkdtemp(prefix="lfray", dir="/tmp")  # short: Ray's socket paths have a length limit
    return ClusterOptions(address="local", workers=workers, on_worker_loss=on_loss,
                          ray_init={"object_store_memory": 100 * 1024 * 1024, "_temp_dir": ray_tmp})


def wait_workers(pool, count, timeout=180.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pool.error is not None:
            raise RuntimeError(f"cluster failed to start: {pool.error}")
        if sum(lane.alive for lane in pool.lanes) >= count:
            return
        time.sleep(0.2)
    raise TimeoutError(f"{count} worker(s) not ready in {timeout}s")


# --- HTTP ----------------------------------------------------------------------------------------
def post(url, path, body) -> dict:
    req = urllib.request.Request(url + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        text = resp.read().decode()
    return json.loads(text) if text else {}


def get(url, path) -> dict:
    with urllib.request.urlopen(url + path, timeout=60) as resp:
        return json.loads(resp.read().decode())


def queue(url, prompt, client_id=None) -> str:
    body = {"prompt": prompt, "prompt_id": str(uuid.uuid4())}
    if client_id:
        body["client_id"] = client_id
    return post(url, "/prompt", body)["prompt_id"]


def wait_done(url, prompt_ids, timeout=240.0) -> dict:
    """prompt_id -> /api/jobs/{id} once every job reached a final state."""
    deadline = time.monotonic() + timeout
    done = {}
    while time.monotonic() < deadline:
        for pid in prompt_ids:
            if pid not in done:
                job = get(url, f"/api/jobs/{pid}")
                if job["status"] in ("completed", "failed", "cancelled"):
                    done[pid] = job
        if len(done) == len(prompt_ids):
            return done
        time.sleep(0.25)
    raise TimeoutError(f"{len(prompt_ids) - len(done)} job(s) unfinished after {timeout}s")


def wait_running(url, prompt_id, timeout=120.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = get(url, f"/api/jobs/{prompt_id}")
        if job["state"] == "running":
            return job
        time.sleep(0.05)
    raise TimeoutError(f"job {prompt_id} did not start in {timeout}s")


class WsRecorder:
    """A websocket client on a thread that records every JSON message it receives."""

    def __init__(self, url, client_id=None):
        from websockets.sync.client import connect

        self.client_id = client_id or uuid.uuid4().hex
        self.ws = connect(url.replace("http", "ws") + f"/ws?clientId={self.client_id}", max_size=None)
        self.messages: list = []
        self.binary: list = []  # (event type, bytes after the 8-byte header) of binary frames
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        try:
            for msg in self.ws:
                if isinstance(msg, str):
                    self.messages.append(json.loads(msg))
                else:
                    self.binary.append((int.from_bytes(msg[:4], "big"), msg))
        except Exception:
            pass

    def for_prompt(self, prompt_id) -> list:
        return [m for m in self.messages if isinstance(m.get("data"), dict)
                and m["data"].get("prompt_id") == prompt_id]

    def wait_for(self, predicate, timeout=120.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for m in list(self.messages):
                if predicate(m):
                    return m
            time.sleep(0.05)
        raise TimeoutError("message not received")

    def close(self):
        self.ws.close()
        self.thread.join(5)
