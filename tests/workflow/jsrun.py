"""Run a function of one of the canvas's ES modules (web/) from Python, to compare it with our Python code.

Node.js runs it when installed; else Debian's Chromium through Playwright, with web/ served from a
routed origin (ES modules do not load from file:// URLs). Arguments and results travel as JSON.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

WEB = Path(__file__).resolve().parents[2] / "web"
CHROMIUM = Path("/usr/bin/chromium")
ORIGIN = "http://latentflow.test"


def available() -> str | None:
    """"node", "chromium", or None when neither can run the modules."""
    if shutil.which("node"):
        return "node"
    if CHROMIUM.exists():
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            return None
        return "chromium"
    return None


def call(module: str, function_source: str, arg=None):
    """``(function_source)(module_namespace, arg)`` for ``web/<module>``; its result, through JSON.

    ``function_source`` is a JavaScript function expression, e.g. ``"(m, cases) => cases.map(m.f)"``.
    """
    runner = available()
    if runner == "node":
        return _node(module, function_source, arg)
    if runner == "chromium":
        return _chromium(module, function_source, arg)
    raise RuntimeError("neither node nor Chromium with Playwright is installed")


def _node(module: str, function_source: str, arg):
    script = (f"const m = await import({json.dumps((WEB / module).as_uri())});\n"
              f"const f = ({function_source});\n"
              "let input = ''; for await (const chunk of process.stdin) input += chunk;\n"
              "process.stdout.write(JSON.stringify(await f(m, JSON.parse(input))));\n")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "call.mjs"
        path.write_text(script, encoding="utf-8")
        done = subprocess.run(["node", str(path)], input=json.dumps(arg), capture_output=True, text=True,
                              encoding="utf-8", timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"node failed on web/{module}: {done.stderr}")
    return json.loads(done.stdout)


def _chromium(module: str, function_source: str, arg):
    from playwright.sync_api import sync_playwright

    def serve(route):
        rel = route.request.url.removeprefix(ORIGIN + "/").split("?")[0]
        path = (WEB / rel).resolve()
        if rel and path.is_file() and path.is_relative_to(WEB):
            ctype = "text/javascript" if path.suffix == ".js" else "text/html"
            route.fulfill(status=200, body=path.read_bytes(), headers={"Content-Type": ctype})
        else:
            route.fulfill(status=200, body=b"<!doctype html>", headers={"Content-Type": "text/html"})

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM),
                                    args=["--headless", "--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page()
            page.route(ORIGIN + "/**", serve)
            page.goto(ORIGIN + "/")
            return page.evaluate(f"async arg => ({function_source})(await import('/{module}'), arg)", arg)
        finally:
            browser.close()
