"""A server joined to a running Ray cluster (``--ray ADDRESS``) re-attaches to its workers when restarted.

The cluster is ``ray start --head --block`` run by the test (ended by its own process id, which stops
what it started); the server is ``main.py serve`` in a subprocess, started twice.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.cluster import clusterkit as ck

pytestmark = pytest.mark.cluster
RAY = Path(sys.executable).with_name("ray")


@pytest.fixture()
def head(tmp_path):
    port = ck.free_port()
    ray_tmp = tempfile.mkdtemp(prefix="lfhead", dir="/tmp")  # Ray's socket paths have a length limit
    log = open(tmp_path / "head.log", "w")
    proc = subprocess.Popen([str(RAY), "start", "--head", "--block", f"--port={port}", "--num-cpus=1",
                             "--include-dashboard=false", f"--temp-dir={ray_tmp}",
                             "--object-store-memory=100000000"], stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def _serve(base, address, port) -> subprocess.Popen:
    log = open(base / f"server-{port}.log", "w")
    proc = subprocess.Popen([sys.executable, str(ck.REPO / "main.py"), "serve", "--base-directory", str(base),
                             "--cpu", "--port", str(port), "--ray", address, "--workers", "1"],
                            stdout=log, stderr=subprocess.STDOUT, cwd=ck.REPO,
                            env={**os.environ, "RAY_AUTH_MODE": "token"})  # as `ray start` has it by default
    proc.log = log
    return proc


def _worker(url, timeout=180.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            workers = ck.get(url, "/system_stats").get("workers", [])
        except OSError:
            workers = []
        if workers and workers[0].get("alive") and workers[0].get("pid"):
            return workers[0]
        time.sleep(0.5)
    raise TimeoutError("the worker did not come up")


def _stop(proc):
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    proc.log.close()


def test_a_restarted_server_reattaches_to_the_same_warm_worker(head, tmp_path):
    base = ck.make_base(tmp_path / "base")
    port = ck.free_port()
    url = f"http://127.0.0.1:{port}"

    first = _serve(base, head, port)
    try:
        before = _worker(url)
        pid = ck.queue(url, ck.sd_prompt(seed=1))
        assert ck.wait_done(url, [pid])[pid]["status"] == "completed"
    finally:
        _stop(first)

    second = _serve(base, head, port)
    try:
        after = _worker(url)
        assert after["pid"] == before["pid"], "the same worker process, not a new one"
        assert after["jobs_done"] == 1
        pid = ck.queue(url, ck.sd_prompt(seed=2))
        done = ck.wait_done(url, [pid])[pid]
        assert done["status"] == "completed" and done["worker_id"] == "w0"
        assert (base / "output" / done["outputs"]["9"]["images"][0]["filename"]).is_file()
    finally:
        _stop(second)
