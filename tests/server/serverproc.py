"""A real server process for tests (tests/server/launcher.py) and plain-HTTP helpers to talk to it.

``Server.call`` never raises on an HTTP status: tests look at the status, headers and body of every
answer, 4xx and 5xx included.
"""
from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def strict_json(data: bytes):
    """Parse as a browser's JSON.parse would: NaN, Infinity and -Infinity are errors."""
    def refuse(name):
        raise ValueError(f"{name} is not JSON")
    return json.loads(data, parse_constant=refuse)


class Answer:
    def __init__(self, status: int, headers, body: bytes):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return strict_json(self.body)

    def __repr__(self):
        return f"<{self.status} {self.body[:300]!r}>"


class Server:
    def __init__(self, base: Path, *extra, env=None, ready_path="/system_stats"):
        self.base, self.port = base, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = base / f"server-{self.port}.log"
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([sys.executable, str(HERE / "launcher.py"), "--port", str(self.port),
                                      "--base-directory", str(base), *extra],
                                     stdout=self.log, stderr=subprocess.STDOUT, cwd=REPO,
                                     env={**os.environ, **(env or {})})
        self.wait_ready(ready_path)

    def wait_ready(self, path="/system_stats", timeout=30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited: {self.log_path.read_text()}")
            try:
                return self.get(path)
            except urllib.error.HTTPError:
                return None  # up, but wants a token (or still setting up)
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.05)
        raise AssertionError("server did not start")

    def get(self, path):
        with urllib.request.urlopen(self.url + path, timeout=10) as r:
            return json.loads(r.read())

    def post(self, path, body):
        req = urllib.request.Request(self.url + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read() or b"null")

    def call(self, method, path, body=None, headers=None, timeout=60) -> Answer:
        """One request on a fresh connection; the answer whatever its status."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            if isinstance(body, str):
                body = body.encode()
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return Answer(resp.status, resp.headers, resp.read())
        finally:
            conn.close()

    def job(self, prompt_id):
        try:
            return self.get(f"/api/jobs/{prompt_id}")
        except urllib.error.HTTPError as e:
            return json.loads(e.read())

    def wait_finished(self, prompt_id, timeout=30.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            entry = self.get(f"/history/{prompt_id}")
            if prompt_id in entry:
                return entry[prompt_id]
            time.sleep(0.05)
        raise AssertionError(f"job {prompt_id} did not finish")

    def rss(self) -> int:
        import psutil
        return psutil.Process(self.proc.pid).memory_info().rss

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.log.close()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
