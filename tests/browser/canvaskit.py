"""Browser tests: the real server (`main.py`) in a subprocess, driven in Debian's Chromium via Playwright.

Each test gets a fresh page on a server whose base directory holds a tiny SD1.5 checkpoint.
Screenshots go to tests/artifacts/ (gitignored).
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "tests" / "artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

if not CHROMIUM.exists():
    pytest.skip("Debian chromium is not installed (apt-get install -y chromium)", allow_module_level=True)
playwright_api = pytest.importorskip("playwright.sync_api")


def shared_workflows() -> list[Path]:
    """The UI workflows of tests/data/workflows."""
    from tests.testdata import WORKFLOWS
    return sorted(WORKFLOWS.glob("*.ui.json"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"server did not answer {url} within {timeout}s")


def start_server(base: Path, port: int, log_name: str = "server.log") -> subprocess.Popen:
    log = open(base / log_name, "a")
    proc = subprocess.Popen([sys.executable, str(REPO / "main.py"), "--port", str(port), "--cpu",
                             "--base-directory", str(base)], cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    log.close()
    _wait_http(f"http://127.0.0.1:{port}/object_info", proc)
    return proc


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """URL of a live Latentflow server with a tiny checkpoint `tiny_sd15.safetensors`."""
    base = tmp_path_factory.mktemp("lf_base")
    from core.models.tiny import write_tiny_checkpoint
    write_tiny_checkpoint(base / "models" / "checkpoints" / "tiny_sd15.safetensors", "sd15")
    # The shipped example pack, loaded as a real custom node pack with its web extension.
    shutil.copytree(REPO / "custom_nodes" / "example_pack", base / "custom_nodes" / "example_pack",
                    ignore=shutil.ignore_patterns("__pycache__"))
    port = _free_port()
    proc = start_server(base, port)
    try:
        yield {"url": f"http://127.0.0.1:{port}", "base": base, "log": base / "server.log"}
    finally:
        stop_server(proc)


@pytest.fixture(scope="module")
def object_info(server):
    with urllib.request.urlopen(server["url"] + "/object_info") as r:
        return json.load(r)


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


class Canvas:
    """A page plus helpers that act as a person would: real mouse and keyboard at node positions."""

    def __init__(self, page, url):
        self.page, self.url, self.errors, self.console = page, url, [], []
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))

    def hook(self, expr: str, arg=None):
        return self.page.evaluate(f"arg => {{ const lf = window.__latentflow; return {expr}; }}", arg)

    def clear(self):
        self.hook("lf.app.clearGraph()")

    def summary(self):
        return self.hook("lf.summary()")

    def click(self, xy, **kw):
        self.page.mouse.click(xy[0], xy[1], **kw)

    def drag(self, a, b, steps=8):
        m = self.page.mouse
        m.move(*a)
        m.down()
        m.move(*b, steps=steps)
        m.up()

    def add_node_by_search(self, query: str, at=(400, 300)) -> int:
        """Double-click empty canvas at `at`, type the query, Enter. Returns the new node's id."""
        before = set(self.hook("lf.nodeIds()"))
        self.page.mouse.dblclick(*at)
        self.page.wait_for_selector(".lf-search input")
        self.page.keyboard.type(query)
        self.page.keyboard.press("Enter")
        self.page.wait_for_selector(".lf-search", state="detached")
        after = set(self.hook("lf.nodeIds()"))
        (new,) = after - before
        return new

    def connect(self, origin, oslot, target, tslot):
        a = self.hook("lf.outputPos(arg[0], arg[1])", [origin, oslot])
        b = self.hook("lf.inputPos(arg[0], arg[1])", [target, tslot])
        self.drag(a, b)

    def drop_file(self, name: str, data: bytes, mime: str, at=(700, 400)):
        """Dispatch a real drop event carrying a File, as dragging a file from the desktop does."""
        self.page.evaluate("""([name, bytes, mime, x, y]) => {
            const file = new File([new Uint8Array(bytes)], name, { type: mime });
            const dt = new DataTransfer(); dt.items.add(file);
            const c = document.querySelector('#lf-canvas');
            c.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true, clientX: x, clientY: y }));
        }""", [name, list(data), mime, at[0], at[1]])

    def shot(self, name: str):
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


@pytest.fixture
def canvas(browser, server, request):
    ctx = browser.new_context(viewport={"width": 1400, "height": 850})
    page = ctx.new_page()
    # Subscribe before anything can open a chooser: Playwright turns on interception asynchronously
    # on the first listener, and a chooser opened before that is answered by the browser, not the test.
    page.on("filechooser", lambda chooser: None)
    page.goto(server["url"] + "/")
    page.wait_for_function("window.__latentflow && window.__latentflow.isReady", timeout=20000)
    c = Canvas(page, server["url"])
    yield c
    if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
        c.shot("FAILED_" + request.node.name)
        print("browser console:\n" + "\n".join(c.console[-30:]))
    ctx.close()
    assert not c.errors, f"uncaught page errors: {c.errors}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def require_nodes(object_info, *types):
    missing = [t for t in types if t not in object_info]
    if missing:
        pytest.skip(f"server does not register {missing} yet")
