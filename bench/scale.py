"""Scale-out benchmark (``--ray``): the same tiny SD1.5 workload on the in-process worker and on Ray workers.

- throughput: jobs per second with 1 and with 2 worker actors (``jobs_per_s_ratio`` = 2 workers / 1);
  on a machine with two cores shared with anything else, expect at most 2x;
- dispatch overhead: one job at a time, submit → ``executing`` with node null on the websocket, with 1
  Ray worker against the in-process worker (``dispatch_overhead_ms`` = the difference per job;
  ``job_latency_ratio`` = Ray / in-process);
- faults: SIGKILL a worker mid-job, time until the next job starts: on the same (restarted) worker
  when it is the only one, and on the other worker with ``--ray-on-worker-loss retry``.

Each server is ``main.py serve`` in a subprocess on a fresh base folder with a tiny checkpoint (64x64,
``--steps`` steps). Last line: one JSON object. Usage: ``.venv/bin/python bench/scale.py [--jobs 12]``.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CKPT = "tiny.safetensors"


def prompt(seed: int, steps: int) -> dict:
    return {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": CKPT}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a red cube", "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["4", 1]}},
        "3": {"class_type": "KSampler", "inputs": {
            "seed": seed, "steps": steps, "cfg": 7.0, "sampler_name": "euler", "scheduler": "normal",
            "denoise": 1.0, "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0],
            "latent_image": ["5", 0]}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "scale", "images": ["8", 0]}},
    }


class Server:
    """``main.py serve`` on a free port; a websocket client records when each job starts and ends."""

    def __init__(self, base: Path, extra: list, threads: int = 1):
        from websockets.sync.client import connect

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(base / f"server-{self.port}.log", "w")
        # Ray gives each one-CPU actor one torch thread (OMP_NUM_THREADS=1); the in-process server gets
        # the same, so the comparison measures dispatch, not thread oversubscription on a shared machine
        env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "serve", "--base-directory", str(base),
                                      "--cpu", "--port", str(self.port), "--database", str(base / f"{self.port}.db"),
                                      *extra], stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
        self._wait_http()
        self.client_id = uuid.uuid4().hex
        self.started, self.ended = {}, {}
        self.changed = threading.Condition()
        self.ws = connect(self.url.replace("http", "ws") + f"/ws?clientId={self.client_id}", max_size=None)
        threading.Thread(target=self._read, daemon=True).start()

    def _wait_http(self, timeout=120.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited ({self.proc.returncode}); see {self.log.name}")
            try:
                self.get("/system_stats")
                return
            except OSError:
                time.sleep(0.2)
        raise TimeoutError("server did not answer")

    def _read(self):
        try:
            for msg in self.ws:
                if not isinstance(msg, str):
                    continue
                m = json.loads(msg)
                data = m.get("data") or {}
                now = time.perf_counter()
                with self.changed:
                    if m["type"] == "execution_start":
                        self.started.setdefault(data["prompt_id"], now)
                    elif m["type"] == "executing" and data.get("node") is None and "prompt_id" in data:
                        self.ended[data["prompt_id"]] = now
                    self.changed.notify_all()
        except Exception:
            pass

    def get(self, path):
        with urllib.request.urlopen(self.url + path, timeout=60) as r:
            return json.loads(r.read())

    def queue(self, p) -> str:
        body = json.dumps({"prompt": p, "client_id": self.client_id}).encode()
        req = urllib.request.Request(self.url + "/prompt", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read())["prompt_id"]

    def wait(self, table, ids, timeout=600.0):
        deadline = time.monotonic() + timeout
        with self.changed:
            while not all(i in table for i in ids):
                if not self.changed.wait(max(0.0, deadline - time.monotonic())):
                    raise TimeoutError(f"jobs not done; see {self.log.name}")

    def workers(self, count, timeout=300.0) -> list:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ws = self.get("/system_stats").get("workers", [])
            if sum(bool(w.get("alive")) and w.get("pid") for w in ws) >= count:
                return ws
            time.sleep(0.5)
        raise TimeoutError(f"{count} workers not ready; see {self.log.name}")

    def close(self):
        self.ws.close()
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def warm(server, workers, steps, seed):
    """Every worker runs one job first (model load, first-call costs), so the figures are steady state."""
    ids = [server.queue(prompt(seed + i, steps)) for i in range(2 * workers)]
    server.wait(server.ended, ids)
    return seed + 2 * workers


def throughput(server, jobs, steps, seed) -> float:
    ids = [server.queue(prompt(seed + i, steps)) for i in range(jobs)]
    t0 = time.perf_counter()
    server.wait(server.ended, ids)
    return jobs / (max(server.ended[i] for i in ids) - t0)


def latency(server, count, steps, seed) -> float:
    """Median seconds from POST /prompt to the job's final ``executing`` message, one job at a time."""
    times = []
    for i in range(count):
        t0 = time.perf_counter()
        pid = server.queue(prompt(seed + i, steps))
        server.wait(server.ended, [pid])
        times.append(server.ended[pid] - t0)
    return statistics.median(times)


def kill_mid_job(server, long_steps, steps, seed, expect_on_other: bool) -> float:
    """Seconds from SIGKILL of the worker running a long job to the start of the next job."""
    victim = server.queue(prompt(seed, long_steps))
    server.wait(server.started, [victim])
    time.sleep(0.5)
    pid = next(w["pid"] for w in server.get("/system_stats")["workers"] if w.get("running") == victim)
    if expect_on_other:  # retry mode: the next job to start is the victim itself, on the other worker
        nxt = victim
        with server.changed:
            server.started.pop(victim)
    else:
        nxt = server.queue(prompt(seed + 1, steps))
    t0 = time.perf_counter()
    os.kill(pid, signal.SIGKILL)
    server.wait(server.started, [nxt])
    return server.started[nxt] - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=12, help="jobs per throughput run")
    ap.add_argument("--latency-jobs", type=int, default=5)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2, help="alternating in-process / Ray rounds")
    args = ap.parse_args()

    from core.models.tiny import write_tiny_checkpoint

    base = Path(tempfile.mkdtemp(prefix="lf-scale-"))
    write_tiny_checkpoint(base / "models" / "checkpoints" / CKPT, "sd15")
    r = {}

    # the in-process server and the one-worker cluster are up together and measured in alternating
    # rounds, so the load of a shared machine falls on both alike
    local = Server(base, [])
    one = None
    try:
        one = Server(base, ["--ray", "local", "--workers", "1"])
        one.workers(1)
        seed = warm(local, 1, args.steps, 0)
        seed = warm(one, 1, args.steps, seed)
        lat = {"inprocess": [], "ray1": []}
        tput = {"inprocess": [], "ray1": []}
        for _ in range(args.rounds):
            for name, server in (("inprocess", local), ("ray1", one)):
                lat[name].append(latency(server, args.latency_jobs, args.steps, seed))
                tput[name].append(throughput(server, args.jobs, args.steps, seed + 100))
                seed += 1000
        for name in lat:
            r[f"{name}_job_latency_s"] = statistics.median(lat[name])
            r[f"{name}_jobs_per_s"] = statistics.median(tput[name])
        local.close()
        local = None
        r["restart_death_to_next_job_s"] = kill_mid_job(one, 400, args.steps, seed, expect_on_other=False)
    finally:
        for server in (local, one):
            if server is not None:
                server.close()

    two = Server(base, ["--ray", "local", "--workers", "2", "--ray-on-worker-loss", "retry"])
    try:
        two.workers(2)
        seed = warm(two, 2, args.steps, 3000)
        r["ray2_jobs_per_s"] = statistics.median(
            [throughput(two, args.jobs, args.steps, seed + 100 + 1000 * i) for i in range(args.rounds)])
        two.workers(2)
        r["failover_death_to_retry_start_s"] = kill_mid_job(two, 400, args.steps, 4000, expect_on_other=True)
    finally:
        two.close()

    out = {k: round(v, 4) for k, v in r.items()}
    out["jobs_per_s_ratio"] = round(r["ray2_jobs_per_s"] / r["ray1_jobs_per_s"], 3)
    out["ray1_vs_inprocess_jobs_per_s_ratio"] = round(r["ray1_jobs_per_s"] / r["inprocess_jobs_per_s"], 3)
    out["dispatch_overhead_ms"] = round((r["ray1_job_latency_s"] - r["inprocess_job_latency_s"]) * 1000, 1)
    out["job_latency_ratio"] = round(r["ray1_job_latency_s"] / r["inprocess_job_latency_s"], 3)
    out.update({"jobs": args.jobs, "steps": args.steps, "size": "64x64", "cpus": os.cpu_count()})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
