"""The official ComfyUI frontend (PyPI comfyui-frontend-package, a dev requirement) served by
``main.py --front-end official``, used as a new user would in real Chromium: the templates browser,
a loaded SD1.5 template run from the Run button, Media Assets, Job Queue, Model Library and Logs.

One browser page and one server for the module; the tests run in file order and share what the
page did (the last test checks every response the page got during all of them).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from urllib.parse import urlparse

import pytest

from canvaskit import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, REPO, _free_port, _wait_http, playwright_api, stop_server

pytest.importorskip("comfyui_frontend_package",
                    reason="comfyui-frontend-package (requirements-dev.txt) is not installed")
pytest.importorskip("comfyui_workflow_templates_json",
                    reason="comfyui-workflow-templates (requirements-dev.txt) is not installed")

CHECKPOINT = "v1-5-pruned-emaonly-fp16.safetensors"  # the name the example pack's SD1.5 template loads
TEMPLATE = "sd15_text_to_image"
# Files a first run asks for before the user has saved any: ComfyUI answers 404 for them too.
FIRST_RUN_MISSING = ("/api/userdata", "/user.css")


@pytest.fixture(scope="module")
def official(tmp_path_factory):
    """URL and base directory of a server with the official frontend, a tiny SD1.5 checkpoint and example_pack."""
    from core.models.tiny import write_tiny_checkpoint

    base = tmp_path_factory.mktemp("official_fe")
    ckpt = write_tiny_checkpoint(base / "models" / "checkpoints" / CHECKPOINT, "sd15")
    # a preview picture beside the model, as model managers save them; the Model Library shows it
    # (a model without one answers 404 there, as in ComfyUI, and the library draws an icon instead)
    from PIL import Image
    Image.new("RGB", (64, 64), (90, 140, 200)).save(ckpt.with_suffix(".preview.png"))
    shutil.copytree(REPO / "custom_nodes" / "example_pack", base / "custom_nodes" / "example_pack",
                    ignore=shutil.ignore_patterns("__pycache__"))
    port = _free_port()
    log = open(base / "server.log", "a")
    proc = subprocess.Popen([sys.executable, str(REPO / "main.py"), "--port", str(port), "--cpu", "--base-directory",
                             str(base), "--front-end", "official"], cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    log.close()
    try:
        _wait_http(f"http://127.0.0.1:{port}/object_info", proc)
        yield {"url": f"http://127.0.0.1:{port}", "base": base}
    finally:
        stop_server(proc)


@pytest.fixture(scope="module")
def ui(official):
    """A page of the official frontend, loaded and idle, with every response and page error recorded."""
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        record = {"page": page, "responses": [], "errors": [], "url": official["url"], "base": official["base"]}
        page.on("response", lambda r: record["responses"].append((r.status, r.request.method, r.url)))
        page.on("pageerror", lambda e: record["errors"].append(str(e)))
        page.goto(official["url"] + "/")
        page.wait_for_function("window.comfyAPI?.app?.app?.graph", timeout=60000)
        page.wait_for_load_state("networkidle")
        yield record
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "official_frontend_last.png"))
        browser.close()


def shot(ui, name):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    ui["page"].screenshot(path=str(ARTIFACTS / f"official_{name}.png"))


def templates_dialog(ui):
    """The templates browser: a new user sees it open by itself; otherwise the sidebar button opens it."""
    page = ui["page"]
    dialog = page.get_by_role("dialog").filter(has_text="All Templates")
    try:
        dialog.wait_for(timeout=15000)
    except playwright_api.TimeoutError:
        page.get_by_role("button", name="Templates", exact=True).click()
        dialog.wait_for()
    return dialog


@pytest.fixture(scope="module")
def finished_job(ui):
    """The example pack's SD1.5 template loaded from the templates browser, made small, run with Run."""
    page = ui["page"]
    dialog = templates_dialog(ui)
    dialog.get_by_text("example_pack", exact=True).first.click()
    dialog.get_by_text(TEMPLATE, exact=True).click()
    page.wait_for_function("window.comfyAPI.app.app.graph.nodes.some(n => n.type === 'KSampler')")
    # What a user with a slow machine does first: a small image and few steps (the CPU runs the tiny model).
    page.evaluate("""() => { const g = window.comfyAPI.app.app.graph;
        const set = (type, name, v) => {
            const w = g.nodes.find(n => n.type === type).widgets.find(w => w.name === name);
            w.value = v; w.callback?.(v); };
        set('EmptyLatentImage', 'width', 64); set('EmptyLatentImage', 'height', 64); set('KSampler', 'steps', 2);
        g.setDirtyCanvas(true, true); }""")
    page.get_by_role("button", name="Run", exact=True).click()
    deadline = time.monotonic() + 240
    while not (jobs := page.evaluate("fetch('/api/jobs?status=completed,failed,cancelled').then(r => r.json())")
               ["jobs"]):
        assert time.monotonic() < deadline, "the job queued from the Run button did not finish"
        page.wait_for_timeout(500)
    job = jobs[0]
    shot(ui, "after_run")
    return job


def test_the_templates_browser_lists_the_installed_core_templates_with_thumbnails(ui):
    dialog = templates_dialog(ui)
    dialog.get_by_role("button", name="All Templates", exact=True).click()
    # thumbnails are fetched from /templates/ as the cards scroll into view and shown as blobs
    ui["page"].wait_for_function("""[...document.querySelectorAll("[role=dialog] img")]
                                    .filter(img => img.complete && img.naturalWidth > 0).length >= 4""")
    thumbnails = [url for status, _m, url in ui["responses"]
                  if status == 200 and urlparse(url).path.startswith("/templates/") and url.endswith(".webp")]
    assert len(thumbnails) >= 4, thumbnails
    shown = dialog.get_by_text("Showing").last.inner_text()  # "Showing 24 of 650 templates"
    assert int(shown.split(" of ")[1].split()[0]) >= 100, shown
    shot(ui, "templates")


def test_a_loaded_sd15_template_runs_from_the_run_button(finished_job):
    assert finished_job["status"] == "completed", finished_job.get("execution_error")
    assert finished_job["preview_output"]["filename"].startswith("sd15_")


def test_the_output_appears_in_the_media_assets_sidebar(ui, finished_job):
    page = ui["page"]
    page.get_by_role("button", name="Assets (a)").click()
    name = finished_job["preview_output"]["filename"].rsplit(".", 1)[0]
    page.get_by_text(name).first.wait_for()
    thumb = page.locator(f"img[src*='{name}']").first
    assert page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=thumb.element_handle())
    shot(ui, "media_assets")


def test_the_job_queue_shows_the_jobs_thumbnail(ui, finished_job):
    page = ui["page"]
    page.get_by_text("Expand job queue").first.click()
    queue = page.get_by_text("Job Queue").locator("xpath=ancestor::*[.//img][1]")
    thumb = queue.locator(f"img[src*='{finished_job['preview_output']['filename']}']").first
    thumb.wait_for()
    assert page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=thumb.element_handle())
    shot(ui, "job_queue")
    page.keyboard.press("Escape")


def test_the_model_library_lists_the_checkpoint(ui):
    page = ui["page"]
    page.get_by_role("button", name="Model Library (m)").click()
    page.get_by_text("checkpoints", exact=True).click()
    page.get_by_text(CHECKPOINT.removesuffix(".safetensors")).first.wait_for()
    preview = "/api/experiment/models/preview/checkpoints/0/" + CHECKPOINT.replace(".safetensors", ".webp")
    page.wait_for_function("url => performance.getEntriesByType('resource').some(e => e.name.endsWith(url))",
                           arg=preview)
    assert (200, "GET", ui["url"] + preview) in ui["responses"]
    shot(ui, "model_library")


def test_the_logs_panel_shows_the_servers_log_lines(ui, finished_job):
    page = ui["page"]
    page.get_by_role("button", name="Toggle Bottom Panel").click()
    page.get_by_text("LOGS", exact=True).first.wait_for()
    page.get_by_text(f"job {finished_job['id']} finished").first.wait_for()
    shot(ui, "logs")


def test_the_example_packs_extension_registers_with_the_official_frontend(ui):
    names = ui["page"].evaluate("window.comfyAPI.app.app.extensions.map(e => e.name)")
    assert "example_pack.canvas" in names


def test_a_packs_subgraph_blueprint_is_offered_in_the_node_library(ui):
    page = ui["page"]
    page.get_by_role("button", name="Node Library (n)").click()
    page.get_by_placeholder("Search").first.fill("Decode picked")
    page.get_by_text("Decode picked latents as").first.wait_for()
    fetched = [url for status, _m, url in ui["responses"]
               if status == 200 and urlparse(url).path.startswith("/api/global_subgraphs/")]
    assert len(fetched) == 1, fetched
    shot(ui, "node_library_blueprint")


def test_no_request_of_the_session_failed_except_first_run_user_files(ui):
    origin = urlparse(ui["url"]).netloc
    failed = [(status, method, url) for status, method, url in ui["responses"]
              if status >= 400 and urlparse(url).netloc == origin
              and not (status == 404 and urlparse(url).path.startswith(FIRST_RUN_MISSING))]
    assert failed == []
    assert ui["errors"] == []
