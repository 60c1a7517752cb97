"""Routes the official ComfyUI frontend calls (docs/api.md, "Official frontend"): jobs with thumbnails,
Model Library, Logs panel, /internal folders and files, templates, i18n, blueprints, node replacements,
the version we report, preview frame encoding and the --front-end choice."""
import asyncio
import io
import json
import logging
import os
import time

import pytest
from PIL import Image

from serverkit import async_test, make_registry, served, wait_history


def _pack(tmp_path, name="stand_in_pack"):
    """A custom node pack folder with example workflows, locales and a subgraph blueprint."""
    pack = tmp_path / "custom_nodes" / name
    (pack / "example_workflows").mkdir(parents=True)
    (pack / "example_workflows" / "make_a_cat.json").write_text(json.dumps({"version": 0.4, "nodes": []}))
    Image.new("RGB", (8, 8)).save(pack / "example_workflows" / "make_a_cat.jpg")
    (pack / "locales" / "en").mkdir(parents=True)
    (pack / "locales" / "en" / "main.json").write_text(json.dumps({"menu": {"hello": "Hello"}}))
    (pack / "locales" / "en" / "nodeDefs.json").write_text(json.dumps({"CatNode": {"display_name": "Cat"}}))
    (pack / "locales" / "fr").mkdir(parents=True)
    (pack / "locales" / "fr" / "main.json").write_text(json.dumps({"menu": {"hello": "Bonjour"}}))
    (pack / "subgraphs").mkdir()
    (pack / "subgraphs" / "Upscale twice.json").write_text(json.dumps({"version": 0.4, "definitions": {}}))
    return pack


def _registry_with_pack(pack):
    registry = make_registry()
    registry.loaded_packs.append((pack.name, str(pack), 0.01))
    return registry


# --- jobs ---------------------------------------------------------------------------------------
@async_test
async def test_finished_job_lists_its_saved_image_as_preview_output_with_the_workflow_id(folders):
    prompt = {"1": {"class_type": "SrvWritePng", "inputs": {"value": 9, "filename_prefix": "thumb"}}}
    extra = {"extra_pnginfo": {"workflow": {"id": "5f0c4d9e-wf", "nodes": []}}}
    async with served(folders) as c:
        pid = (await (await c.post("/prompt", json={"prompt": prompt, "extra_data": extra})).json())["prompt_id"]
        await wait_history(c, pid)
        (job,) = (await (await c.get("/api/jobs?status=completed,failed,cancelled")).json())["jobs"]
    assert job["preview_output"] == {"filename": "thumb_00009_.png", "subfolder": "", "type": "output",
                                     "nodeId": "1", "mediaType": "images"}
    assert job["workflow_id"] == "5f0c4d9e-wf"
    assert job["outputs_count"] == 1 and job["previewable_outputs_count"] == 1
    assert isinstance(job["create_time"], int)


@async_test
async def test_job_detail_carries_the_workflow_it_was_queued_from(folders):
    prompt = {"1": {"class_type": "SrvWritePng", "inputs": {"value": 3, "filename_prefix": "d"}}}
    workflow = {"id": "wf-1", "nodes": [], "links": []}
    async with served(folders) as c:
        body = {"prompt": prompt, "extra_data": {"extra_pnginfo": {"workflow": workflow}}}
        pid = (await (await c.post("/prompt", json=body)).json())["prompt_id"]
        await wait_history(c, pid)
        job = await (await c.get(f"/api/jobs/{pid}")).json()
    assert job["workflow"]["prompt"] == prompt
    assert job["workflow"]["extra_data"]["extra_pnginfo"]["workflow"] == workflow
    assert job["execution_status"]["completed"] is True


@async_test
async def test_failed_job_error_has_the_fields_the_job_queue_reads(folders):
    prompt = {"1": {"class_type": "SrvNumber", "inputs": {"value": 3}},
              "2": {"class_type": "SrvBoom", "inputs": {"value": ["1", 0]}},
              "3": {"class_type": "SrvShow", "inputs": {"value": ["2", 0]}}}
    async with served(folders) as c:
        pid = (await (await c.post("/prompt", json={"prompt": prompt})).json())["prompt_id"]
        await wait_history(c, pid)
        (job,) = (await (await c.get("/api/jobs")).json())["jobs"]
    error = job["execution_error"]
    assert error["node_id"] == "2" and error["node_type"] == "SrvBoom"
    assert "boom" in error["exception_message"] and error["exception_type"]
    assert isinstance(error["traceback"], list) and all(isinstance(line, str) for line in error["traceback"])


def test_preview_output_prefers_a_saved_image_over_text_and_temp_previews():
    from core.server.job_summary import outputs_summary

    outputs = {"1": {"text": ["a caption"]},
               "2": {"images": [{"filename": "p.png", "subfolder": "", "type": "temp"}]},
               "3": {"images": [{"filename": "s.png", "subfolder": "", "type": "output"}]},
               "4": {"latents": [{"filename": "l.latent", "subfolder": "", "type": "output"}]}}
    count, previewable, preview = outputs_summary(outputs)
    assert preview["filename"] == "s.png" and preview["nodeId"] == "3"
    assert (count, previewable) == (3, 2)  # the text is shown, not counted; the latent is counted, not shown


def test_preview_output_falls_back_to_text_when_nothing_else_was_made():
    from core.server.job_summary import outputs_summary

    _count, _previewable, preview = outputs_summary({"7": {"text": ["x" * 2000]}})
    assert preview["mediaType"] == "text" and preview["nodeId"] == "7"
    assert len(preview["content"]) == 1024 and preview["truncated"] is True


# --- Model Library ------------------------------------------------------------------------------
@async_test
async def test_model_library_lists_folder_types_with_their_directories(folders):
    async with served(folders, start_worker=False) as c:
        listing = await (await c.get("/api/experiment/models")).json()
    names = [entry["name"] for entry in listing]
    assert "checkpoints" in names and "loras" in names
    assert "configs" not in names and "custom_nodes" not in names
    checkpoints = next(e for e in listing if e["name"] == "checkpoints")
    assert checkpoints["folders"] == [str(folders.models_dir / "checkpoints")]


@async_test
async def test_model_library_lists_model_files_with_index_times_and_size(folders):
    ckpt = folders.models_dir / "checkpoints" / "sd" / "tiny.safetensors"
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(b"x" * 123)
    (ckpt.parent / "notes.txt").write_text("not a model")
    async with served(folders, start_worker=False) as c:
        files = await (await c.get("/api/experiment/models/checkpoints")).json()
        unknown = await c.get("/api/experiment/models/no_such_folder")
    assert [(f["name"], f["pathIndex"], f["size"]) for f in files] == [("sd/tiny.safetensors", 0, 123)]
    assert files[0]["modified"] == pytest.approx(ckpt.stat().st_mtime)
    assert unknown.status == 404


@async_test
async def test_model_preview_is_the_picture_beside_the_model_as_webp(folders):
    ckpt = folders.models_dir / "checkpoints" / "tiny.safetensors"
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(b"x")
    Image.new("RGB", (20, 10), (200, 10, 10)).save(ckpt.with_suffix(".png"))
    async with served(folders, start_worker=False) as c:
        resp = await c.get("/api/experiment/models/preview/checkpoints/0/tiny.webp")
        body = await resp.read()
        missing = await c.get("/api/experiment/models/preview/checkpoints/0/other.webp")
    assert resp.status == 200 and resp.content_type == "image/webp"
    assert Image.open(io.BytesIO(body)).size == (20, 10)
    assert missing.status == 404


# --- Logs panel and /internal -------------------------------------------------------------------
@async_test
async def test_raw_logs_hold_the_servers_recent_log_lines(folders):
    async with served(folders, start_worker=False) as c:
        logging.getLogger("latentflow.test").warning("a line for the logs panel")
        raw = await (await c.get("/internal/logs/raw")).json()
        text = await (await c.get("/internal/logs")).json()
    assert any("a line for the logs panel" in e["m"] for e in raw["entries"])
    assert set(raw["entries"][-1]) == {"t", "m"} and raw["size"]["cols"] > 0 and raw["size"]["rows"] > 0
    assert "a line for the logs panel" in text


@async_test
async def test_log_buffer_keeps_only_the_most_recent_lines(folders):
    from core.server.logbuffer import CAPACITY

    async with served(folders, start_worker=False) as c:
        for i in range(CAPACITY + 50):
            logging.getLogger("latentflow.test").warning("line %d", i)
        entries = (await (await c.get("/internal/logs/raw")).json())["entries"]
    assert len(entries) == CAPACITY and f"line {CAPACITY + 49}" in entries[-1]["m"]


@async_test
async def test_subscribed_client_receives_new_log_lines_over_the_websocket(folders):
    async with served(folders, start_worker=False) as c:
        ws = await c.ws_connect("/ws?clientId=logs-1")
        await ws.receive_json(timeout=5)  # status
        resp = await c.patch("/internal/logs/subscribe", json={"clientId": "logs-1", "enabled": True})
        assert resp.status == 200
        logging.getLogger("latentflow.test").warning("streamed line")
        msg = await ws.receive_json(timeout=5)
        while msg["type"] != "logs":
            msg = await ws.receive_json(timeout=5)
        assert "streamed line" in msg["data"]["entries"][0]["m"]
        await c.patch("/internal/logs/subscribe", json={"clientId": "logs-1", "enabled": False})
        logging.getLogger("latentflow.test").warning("not streamed")
        with pytest.raises(asyncio.TimeoutError):
            await ws.receive_json(timeout=0.5)
        await ws.close()


@async_test
async def test_log_subscription_without_a_client_id_is_refused(folders):
    async with served(folders, start_worker=False) as c:
        resp = await c.patch("/internal/logs/subscribe", json={"enabled": True})
        assert resp.status == 400 and "clientId" in (await resp.json())["error"]
        assert (await c.patch("/internal/logs/subscribe", data=b"{not json")).status == 400


@async_test
async def test_folder_paths_name_every_folder_type(folders):
    async with served(folders, start_worker=False) as c:
        paths = await (await c.get("/internal/folder_paths")).json()
    assert paths["checkpoints"] == [str(folders.models_dir / "checkpoints")]
    assert paths["custom_nodes"] == [str(folders.base / "custom_nodes")]


@async_test
async def test_internal_files_lists_a_folders_files_newest_first(folders):
    for i, name in enumerate(["old.png", "new.png"]):
        (folders.input_dir / name).write_bytes(b"x")
        os.utime(folders.input_dir / name, (time.time() - 100 + i * 50,) * 2)
    (folders.input_dir / "sub").mkdir()
    async with served(folders, start_worker=False) as c:
        assert await (await c.get("/internal/files/input")).json() == ["new.png", "old.png"]
        bad = await c.get("/internal/files/models")
        assert bad.status == 400 and "output" in (await bad.json())["error"]


# --- templates, i18n, blueprints, replacements ---------------------------------------------------
@async_test
async def test_workflow_templates_list_and_serve_each_packs_example_workflows(folders, tmp_path):
    pack = _pack(tmp_path)
    async with served(folders, registry=_registry_with_pack(pack), start_worker=False) as c:
        assert await (await c.get("/api/workflow_templates")).json() == {"stand_in_pack": ["make_a_cat"]}
        workflow = await c.get("/api/workflow_templates/stand_in_pack/make_a_cat.json")
        assert workflow.status == 200 and (await workflow.json())["version"] == 0.4
        thumbnail = await c.get("/api/workflow_templates/stand_in_pack/make_a_cat.jpg")
        assert thumbnail.status == 200 and thumbnail.content_type == "image/jpeg"
        assert (await c.get("/api/workflow_templates/serverpack/make_a_cat.json")).status == 404
        escape = await c.get("/api/workflow_templates/stand_in_pack/..%2F..%2Flocales%2Fen%2Fmain.json")
        assert escape.status in (400, 403, 404)


@async_test
async def test_core_templates_are_404_when_no_template_package_is_installed(folders, monkeypatch):
    from core.server import routes_templates

    monkeypatch.setattr(routes_templates, "template_roots", lambda: ())
    async with served(folders, start_worker=False) as c:
        assert (await c.get("/templates/index.json")).status == 404


@async_test
async def test_core_templates_index_workflows_and_thumbnails_come_from_the_installed_packages(folders):
    pytest.importorskip("comfyui_workflow_templates_json",
                        reason="comfyui-workflow-templates (requirements-dev.txt) is not installed")
    async with served(folders, start_worker=False) as c:
        resp = await c.get("/templates/index.json")
        assert resp.status == 200 and resp.content_type == "application/json"
        index = await resp.json()
        first = index[0]["templates"][0]
        workflow = await c.get(f"/templates/{first['name']}.json")
        thumbnail = await c.get(f"/templates/{first['name']}-1.{first['mediaSubtype']}")
        assert workflow.status == 200 and "nodes" in await workflow.json()
        assert thumbnail.status == 200 and thumbnail.content_type.startswith("image/")
        assert (await c.get("/templates/..%2F__init__.py")).status in (400, 403, 404)


@async_test
async def test_i18n_merges_every_packs_locales_by_language(folders, tmp_path):
    pack = _pack(tmp_path)
    async with served(folders, registry=_registry_with_pack(pack), start_worker=False) as c:
        i18n = await (await c.get("/api/i18n")).json()
    assert i18n == {"en": {"menu": {"hello": "Hello"}, "nodeDefs": {"CatNode": {"display_name": "Cat"}}},
                    "fr": {"menu": {"hello": "Bonjour"}}}


@async_test
async def test_global_subgraphs_list_pack_blueprints_and_serve_their_data(folders, tmp_path):
    pack = _pack(tmp_path)
    async with served(folders, registry=_registry_with_pack(pack), start_worker=False) as c:
        listing = await (await c.get("/api/global_subgraphs")).json()
        ((blueprint_id, entry),) = listing.items()
        one = await (await c.get(f"/api/global_subgraphs/{blueprint_id}")).json()
        unknown = await c.get("/api/global_subgraphs/nope")
    assert entry == {"source": "custom_node", "name": "Upscale twice",
                     "info": {"node_pack": "custom_nodes.stand_in_pack"}}
    assert json.loads(one["data"]) == {"version": 0.4, "definitions": {}} and one["name"] == "Upscale twice"
    assert unknown.status == 404


@async_test
async def test_node_replacements_is_an_empty_mapping_when_no_pack_registers_any(folders):
    async with served(folders, start_worker=False) as c:
        assert await (await c.get("/api/node_replacements")).json() == {}


# --- version, frontend choice, preview frames ------------------------------------------------------
@async_test
async def test_system_stats_version_does_not_make_the_frontend_ask_for_an_update(folders):
    from core.server.state import COMFYUI_COMPAT_VERSION

    async with served(folders, start_worker=False) as c:
        system = (await (await c.get("/system_stats")).json())["system"]
    assert system["comfyui_version"] == COMFYUI_COMPAT_VERSION
    assert tuple(int(x) for x in COMFYUI_COMPAT_VERSION.split(".")) >= (0, 43, 0)
    # the frontend warns when its own version is below required_frontend_version
    assert system["required_frontend_version"] is None


def test_front_end_official_serves_the_installed_frontend_package():
    pytest.importorskip("comfyui_frontend_package", reason="comfyui-frontend-package (requirements-dev.txt) "
                                                           "is not installed")
    from core.cli.flags import parse_args
    from core.server import config_from_args

    config = config_from_args(parse_args(["--front-end", "official"]))
    assert (config.web_root / "index.html").is_file() and config.web_root.name == "static"
    assert config_from_args(parse_args([])).web_root.name == "web"


def test_front_end_root_wins_over_front_end(tmp_path):
    from core.server.frontends import web_root

    assert web_root("official", str(tmp_path)) == tmp_path.resolve()


def test_front_end_official_without_the_package_names_what_to_install(monkeypatch):
    import importlib.util

    from core.server import frontends

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(frontends.FrontendNotFound, match="pip install comfyui-frontend-package"):
        frontends.web_root("official")


def test_png_preview_tuple_without_max_size_is_sent_as_full_size_png():
    from core.server.worker import encode_preview

    fmt, data = encode_preview(("PNG", Image.new("RGB", (1200, 700), (1, 2, 3)), None), 512)
    assert fmt == "PNG" and data[:8] == b"\x89PNG\r\n\x1a\n"
    assert Image.open(io.BytesIO(data)).size == (1200, 700)


def test_preview_tuple_max_size_bounds_the_image_and_keeps_its_format():
    from core.server.worker import encode_preview

    fmt, data = encode_preview(("JPEG", Image.new("RGB", (1000, 500)), 256), 512)
    assert fmt == "JPEG" and Image.open(io.BytesIO(data)).size == (256, 128)


def test_plain_image_preview_is_a_jpeg_bounded_by_the_preview_size():
    from core.server.worker import encode_preview

    fmt, data = encode_preview(Image.new("RGB", (1024, 1024)), 512)
    assert fmt == "JPEG" and Image.open(io.BytesIO(data)).size == (512, 512)


class SendsUnencodedPreview:
    """A pack node that sends a picture the way ComfyUI packs do: ``send_sync(UNENCODED_PREVIEW_IMAGE, ...)``."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"size": ("INT", {"default": 600, "min": 1, "max": 4096})}}

    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True
    CATEGORY = "testing"

    def run(self, size):
        from core.compat import ensure_on_path

        ensure_on_path()  # packs import ComfyUI's module names: ``server`` here
        from server import BinaryEventTypes, PromptServer

        server = PromptServer.instance
        image = Image.new("RGB", (size, size // 2), (10, 200, 30))
        server.send_sync(BinaryEventTypes.UNENCODED_PREVIEW_IMAGE, ["PNG", image, None], server.client_id)
        return {}


@async_test
async def test_a_packs_unencoded_png_preview_reaches_its_client_as_a_full_size_png_frame(folders):
    registry = make_registry()
    registry.register(SendsUnencodedPreview, "SrvUnencodedPreview", module="custom_nodes.serverpack")
    prompt = {"1": {"class_type": "SrvUnencodedPreview", "inputs": {"size": 600}}}
    async with served(folders, registry=registry) as c:
        ws = await c.ws_connect("/ws?clientId=png-1")
        await c.post("/prompt", json={"prompt": prompt, "client_id": "png-1"})
        while True:
            msg = await ws.receive(timeout=15)
            if msg.type.name == "BINARY":
                break
        await ws.close()
    assert msg.data[:8] == (1).to_bytes(4, "big") + (2).to_bytes(4, "big")
    assert Image.open(io.BytesIO(msg.data[8:])).size == (600, 300)


@async_test
async def test_node_help_pages_come_from_the_embedded_docs_package(folders, tmp_path, monkeypatch):
    from core.server import routes_templates

    (tmp_path / "docs" / "KSampler").mkdir(parents=True)
    (tmp_path / "docs" / "KSampler" / "en.md").write_text("# KSampler\nDenoises a latent.")
    monkeypatch.setattr(routes_templates, "embedded_docs_root", lambda: tmp_path / "docs")
    async with served(folders, start_worker=False) as c:
        page = await c.get("/docs/KSampler/en.md")
        assert page.status == 200 and "Denoises" in await page.text()
        assert (await c.get("/docs/KSampler/fr.md")).status == 404
        monkeypatch.setattr(routes_templates, "embedded_docs_root", lambda: None)
        assert (await c.get("/docs/KSampler/en.md")).status == 404


def test_the_example_packs_sd15_template_is_a_valid_graph_of_built_in_nodes(folders):
    """What the official frontend queues when a user runs the template: it passes validation as is."""
    import nodes
    from core.execution.registry import NodeRegistry
    from core.execution.validate import validate_prompt
    from core.workflow.formats import ui_to_api
    from serverkit import REPO

    template = json.loads((REPO / "custom_nodes" / "example_pack" / "example_workflows" /
                           "sd15_text_to_image.json").read_text())
    (folders.models_dir / "checkpoints").mkdir(parents=True)
    (folders.models_dir / "checkpoints" / "v1-5-pruned-emaonly-fp16.safetensors").write_bytes(b"x")
    registry = NodeRegistry()
    nodes.register_builtin_nodes(registry)
    prompt = ui_to_api(template, registry.object_info())
    result = validate_prompt(registry, prompt)
    assert result.ok, (result.error, result.node_errors)
    assert {n["class_type"] for n in prompt.values()} == {"CheckpointLoaderSimple", "CLIPTextEncode",
                                                           "EmptyLatentImage", "KSampler", "VAEDecode", "SaveImage"}
    assert prompt["5"]["inputs"] == {"width": 512, "height": 512, "batch_size": 1}
