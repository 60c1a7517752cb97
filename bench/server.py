"""Server benchmark: each figure beside a peer measured in the same run.

- POST /prompt latency and throughput for a one-node graph, against a bare aiohttp handler that
  only parses the JSON body and answers JSON (the floor any aiohttp server pays);
- fan-out of 100 progress messages to 100 websocket clients, against a bare server looping
  ``send_str`` over the same sockets;
- process start to the first 200 on GET /prompt (``main.py``; /system_stats says 503 + Retry-After until
  the background device set-up is done), against ``python -c "import aiohttp"``.

Servers run in subprocesses (this file with ``serve-ours``/``serve-bare``) and the same client code
drives both. Last line: JSON with ``*_ratio`` names (ours / peer; below 1 is better for times).
Usage: ``.venv/bin/python bench/server.py [--requests N] [--clients N]``.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PROGRESS_STEPS = 100


# --- the servers (subprocess side) ----------------------------------------------------------------
class BenchConst:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"default": 0, "min": -10**9, "max": 10**9})}}

    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True
    CATEGORY = "bench"

    def run(self, value):
        return {"ui": {"value": [value]}, "result": ()}


class BenchProgress:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"steps": ("INT", {"default": PROGRESS_STEPS, "min": 1, "max": 100000}),
                             "tag": ("INT", {"default": 0, "min": 0, "max": 10**9})}}

    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True
    CATEGORY = "bench"

    def run(self, steps, tag):
        from core.execution.progress import ProgressBar

        bar = ProgressBar(steps)
        for _ in range(steps):
            bar.update(1)
        return {"ui": {"tag": [tag]}, "result": ()}


def serve_ours(port: int, base: str, durable: bool = True):
    from aiohttp import web

    from core import paths
    from core.execution.registry import NodeRegistry
    from core.server import ServerConfig, create_app

    logging.basicConfig(level=logging.WARNING)
    folders = paths.configure(base=base)
    registry = NodeRegistry()
    registry.register(BenchConst, "BenchConst")
    registry.register(BenchProgress, "BenchProgress")
    config = ServerConfig(folders=folders, db_path=Path(base) / f"bench-{port}.db", web_root=Path(base), argv=[],
                          durable=durable)
    web.run_app(create_app(registry, config), host="127.0.0.1", port=port, print=None, access_log=None)


def serve_bare(port: int):
    from aiohttp import web

    clients = []

    async def prompt(request):
        body = await request.json()
        return web.json_response({"prompt_id": "x", "number": len(body), "node_errors": {}})

    async def ws_handler(request):
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        clients.append(ws)
        await ws.send_str(json.dumps({"type": "status", "data": {}}))
        async for _ in ws:
            pass
        clients.remove(ws)
        return ws

    async def fanout(request):
        steps = int(request.query.get("steps", PROGRESS_STEPS))

        async def loop():
            for i in range(1, steps + 1):
                msg = json.dumps({"type": "progress", "data": {"value": i, "max": steps, "prompt_id": "x", "node": "1"}})
                for ws in list(clients):
                    await ws.send_str(msg)
        asyncio.ensure_future(loop())
        return web.json_response({})

    async def stats(request):
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/prompt", prompt)
    app.router.add_get("/ws", ws_handler)
    app.router.add_post("/fanout", fanout)
    app.router.add_get("/system_stats", stats)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


# --- the client side -----------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(mode: str, *extra: str):
    """(process, url, seconds from spawn to the first 200 on /system_stats)."""
    port = free_port()
    cmd = [sys.executable, __file__, mode, str(port), *extra]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seconds = wait_http(f"http://127.0.0.1:{port}/system_stats", proc)
    return proc, f"http://127.0.0.1:{port}", seconds


def wait_http(url, proc, timeout=30.0) -> float:
    import urllib.error
    import urllib.request

    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return time.perf_counter() - t0
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.005)
    raise RuntimeError(f"{url} did not answer")


def drain_queue(url, timeout=300.0):
    import urllib.request

    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        with urllib.request.urlopen(url + "/prompt", timeout=5) as r:
            if json.loads(r.read())["exec_info"]["queue_remaining"] == 0:
                return
        time.sleep(0.1)
    raise RuntimeError("the queue did not drain")


def stop(proc):
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


async def measure_prompt(url: str, n: int, concurrency: int = 8) -> dict:
    import aiohttp

    async with aiohttp.ClientSession() as http:
        async def one(i):
            body = {"prompt": {"1": {"class_type": "BenchConst", "inputs": {"value": i}}}}
            t0 = time.perf_counter()
            async with http.post(url + "/prompt", json=body) as resp:
                await resp.read()
                assert resp.status == 200, resp.status
            return time.perf_counter() - t0

        for i in range(20):  # warm-up
            await one(i)
        latencies = [await one(i) for i in range(n)]
        queue = iter(range(n))

        async def lane():
            for i in queue:
                await one(i)
        t0 = time.perf_counter()
        await asyncio.gather(*(lane() for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    return {"latency_ms": statistics.median(latencies) * 1000,
            "p95_ms": sorted(latencies)[int(0.95 * len(latencies))] * 1000, "rps": n / elapsed}


async def measure_fanout(url: str, clients: int, trigger, rounds: int = 3) -> float:
    """Median time from the trigger until every client has seen all PROGRESS_STEPS progress messages."""
    import aiohttp

    # limit=0: the default pool of 100 connections would be used up by the sockets themselves
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        sockets = [await http.ws_connect(f"{url}/ws?clientId=c{i}") for i in range(clients)]
        for ws in sockets:
            await ws.receive()  # the status greeting
        times = []
        for r in range(rounds):
            async def drain(ws):
                seen = 0
                while seen < PROGRESS_STEPS:
                    msg = await ws.receive(timeout=60)
                    if msg.type == aiohttp.WSMsgType.TEXT and '"progress"' in msg.data:
                        seen += 1
            waiters = [asyncio.ensure_future(drain(ws)) for ws in sockets]
            t0 = time.perf_counter()
            await trigger(http, r)
            await asyncio.gather(*waiters)
            times.append(time.perf_counter() - t0)
            await asyncio.sleep(0.2)  # let trailing status/executing messages arrive before the next round
            for ws in sockets:  # drop anything left over
                while True:
                    try:
                        await ws.receive(timeout=0.01)
                    except asyncio.TimeoutError:
                        break
        for ws in sockets:
            await ws.close()
    return statistics.median(times) * 1000


def measure_startup(base: str, repeats: int = 3) -> tuple:
    ours, peer = [], []
    for _ in range(repeats):
        port = free_port()
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "--port", str(port), "--base-directory", base,
                                 "--disable-all-custom-nodes"], cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            # GET /prompt: /system_stats answers 503 until the background device set-up is done
            wait_http(f"http://127.0.0.1:{port}/prompt", proc)
            ours.append(time.perf_counter() - t0)
        finally:
            stop(proc)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import aiohttp"], check=True)
        peer.append(time.perf_counter() - t0)
    return statistics.median(ours), statistics.median(peer)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--clients", type=int, default=100)
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as base:
        ours, ours_url, server_only_s = start("serve-ours", base)
        bare, bare_url, _ = start("serve-bare")
        nosync, nosync_url, _ = start("serve-ours", base, "nosync")
        try:
            o = asyncio.run(measure_prompt(ours_url, args.requests))
            b = asyncio.run(measure_prompt(bare_url, args.requests))
            n = asyncio.run(measure_prompt(nosync_url, args.requests))
            stop(nosync)
            print(f"POST /prompt  latency median {o['latency_ms']:.2f} ms (p95 {o['p95_ms']:.2f}), "
                  f"{o['rps']:.0f} req/s  | bare aiohttp {b['latency_ms']:.2f} ms, {b['rps']:.0f} req/s")
            print(f"  without the per-job fsync (durable=False): {n['latency_ms']:.2f} ms, {n['rps']:.0f} req/s")

            async def trigger_ours(http, r):
                body = {"prompt": {"1": {"class_type": "BenchProgress", "inputs": {"steps": PROGRESS_STEPS, "tag": r}}}}
                async with http.post(ours_url + "/prompt", json=body) as resp:
                    assert resp.status == 200

            async def trigger_bare(http, r):
                async with http.post(bare_url + f"/fanout?steps={PROGRESS_STEPS}") as resp:
                    assert resp.status == 200

            drain_queue(ours_url)  # the throughput run's jobs must not sit in front of the fan-out job
            fo = asyncio.run(measure_fanout(ours_url, args.clients, trigger_ours))
            fb = asyncio.run(measure_fanout(bare_url, args.clients, trigger_bare))
            print(f"fan-out {PROGRESS_STEPS} progress msgs to {args.clients} sockets: {fo:.1f} ms "
                  f"(incl. queueing and running the job) | raw send loop {fb:.1f} ms")
        finally:
            for proc in (ours, bare, nosync):
                if proc.poll() is None:
                    stop(proc)
        s_ours, s_peer = measure_startup(base)
        print(f"start to first 200 (GET /prompt for main.py): main.py {s_ours:.2f} s, core.server alone "
              f"{server_only_s:.2f} s | python -c 'import aiohttp': {s_peer:.2f} s")
    results.update({
        "prompt_latency_ms": round(o["latency_ms"], 3), "bare_latency_ms": round(b["latency_ms"], 3),
        "prompt_latency_ratio": round(o["latency_ms"] / b["latency_ms"], 3),
        "prompt_rps": round(o["rps"], 1), "bare_rps": round(b["rps"], 1),
        "prompt_throughput_ratio": round(o["rps"] / b["rps"], 3),
        "prompt_nosync_latency_ms": round(n["latency_ms"], 3),
        "prompt_nosync_latency_ratio": round(n["latency_ms"] / b["latency_ms"], 3),
        "fanout_ms": round(fo, 2), "raw_fanout_ms": round(fb, 2), "fanout_ratio": round(fo / fb, 3),
        "startup_s": round(s_ours, 3), "import_aiohttp_s": round(s_peer, 3), "startup_ratio": round(s_ours / s_peer, 3),
        "server_only_startup_s": round(server_only_s, 3), "server_only_startup_ratio": round(server_only_s / s_peer, 3),
        "clients": args.clients, "requests": args.requests, "cpus": os.cpu_count(),
    })
    print(json.dumps(results))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "serve-ours":
        serve_ours(int(sys.argv[2]), sys.argv[3], durable=sys.argv[4:5] != ["nosync"])
    elif len(sys.argv) > 1 and sys.argv[1] == "serve-bare":
        serve_bare(int(sys.argv[2]))
    else:
        main()
