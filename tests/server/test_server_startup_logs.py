"""The Logs panel (GET /internal/logs/raw) shows what was logged while main.py started: packs loading too."""
from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request

from serverproc import REPO, free_port, strict_json

PACK = '''import logging
logging.getLogger("startup_logging_pack").warning("startup pack says hello")
NODE_CLASS_MAPPINGS = {}
'''


def test_lines_logged_before_serving_reach_the_logs_panel(tmp_path):
    pack = tmp_path / "custom_nodes" / "startup_logging_pack"
    pack.mkdir(parents=True)
    (pack / "__init__.py").write_text(PACK)
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(REPO / "main.py"), "--port", str(port), "--base-directory",
                             str(tmp_path)], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, "main.py exited"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/internal/logs/raw", timeout=5) as r:
                    lines = [e["m"] for e in strict_json(r.read())["entries"]]
                    break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline, "no answer in 60 s"
                time.sleep(0.05)
        assert "WARNING startup_logging_pack: startup pack says hello\n" in lines
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
