"""Opening workflow files by drag-and-drop: counts, API export equal to the derived API files,
PNG workflow chunks, and nodes unknown to this install kept and saved back unchanged."""
import json
import struct
import zlib

import pytest

from classic_nodes import classic_object_info
from canvaskit import shared_workflows

WORKFLOWS = shared_workflows()
VIRTUAL = {"Note", "MarkdownNote", "PrimitiveNode", "Reroute"}


def use_classic_catalogue(canvas, workflow):
    """The derived files follow the classic node definitions (docs/comfy-api.md §6); use them for the
    classes this workflow names so server-side additions (newer optional widgets) do not shift slots."""
    classic = classic_object_info()
    wanted = {n["type"] for n in workflow["nodes"]} & set(classic)
    canvas.hook("lf.setCatalogue({...lf.catalogue(), ...arg})", {k: classic[k] for k in wanted})


def api_core(prompt):
    return {k: {"class_type": v["class_type"], "inputs": v["inputs"]} for k, v in prompt.items()}


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name.removesuffix(".ui.json"))
def test_dropped_workflow_opens_with_its_nodes_and_links_and_exports_the_derived_prompt(canvas, path):
    workflow = json.loads(path.read_text())
    expected = json.loads(path.with_name(path.name.replace(".ui.json", ".api.derived.json")).read_text())
    use_classic_catalogue(canvas, workflow)
    canvas.clear()
    canvas.drop_file(path.name, path.read_bytes(), "application/json")
    canvas.page.wait_for_function(f"window.__latentflow.summary().nodes === {len(workflow['nodes'])}")
    assert canvas.summary()["links"] == len(workflow["links"])
    assert api_core(canvas.hook("lf.exportApi()")) == api_core(expected)
    if path.name.startswith(("sdxl_simple", "lora")):
        canvas.shot(f"workflow_{path.name.removesuffix('.ui.json')}")


def test_an_unedited_workflow_saves_back_with_the_same_nodes_links_and_groups(canvas):
    path = next(p for p in WORKFLOWS if p.name.startswith("sdxl_simple"))
    workflow = json.loads(path.read_text())
    use_classic_catalogue(canvas, workflow)
    canvas.drop_file(path.name, path.read_bytes(), "application/json")
    canvas.page.wait_for_function(f"window.__latentflow.summary().nodes === {len(workflow['nodes'])}")
    saved = canvas.hook("lf.saveWorkflow()")
    for key in ("nodes", "links", "groups", "last_node_id", "last_link_id", "version"):
        assert saved[key] == workflow[key], key


MISSING_WORKFLOW = {
    "last_node_id": 3, "last_link_id": 2, "version": 0.4, "config": {}, "extra": {"custom": {"kept": True}},
    "groups": [{"id": 1, "title": "Mine", "bounding": [0, -80, 700, 400], "color": "#3f789e", "font_size": 24}],
    "nodes": [
        {"id": 1, "type": "CheckpointLoaderSimple", "pos": [0, 0], "size": [315, 98], "flags": {}, "order": 0, "mode": 0,
         "outputs": [{"name": "MODEL", "type": "MODEL", "links": [1]}, {"name": "CLIP", "type": "CLIP", "links": None},
                     {"name": "VAE", "type": "VAE", "links": None}],
         "properties": {"Node name for S&R": "CheckpointLoaderSimple"}, "widgets_values": ["tiny_sd15.safetensors"]},
        {"id": 2, "type": "FancyUpscalerThatIsNotInstalled", "pos": [400, 0], "size": [260, 120], "flags": {}, "order": 1,
         "mode": 0, "inputs": [{"name": "model", "type": "MODEL", "link": 1}],
         "outputs": [{"name": "FANCY", "type": "FANCY", "links": [2], "slot_index": 0}],
         "properties": {"cnr_id": "fancy-pack", "ver": "1.2.3"}, "widgets_values": [42, "bicubic", {"nested": [1, 2]}],
         "title": "My fancy node", "color": "#223", "custom_field": "passthrough"},
        {"id": 3, "type": "AnotherMissingNode", "pos": [700, 0], "size": [200, 60], "flags": {"collapsed": True}, "order": 2,
         "mode": 4, "inputs": [{"name": "x", "type": "FANCY", "link": 2}], "outputs": [], "properties": {},
         "widgets_values": {"dict": "values"}},
    ],
    "links": [[1, 1, 0, 2, 0, "MODEL"], [2, 2, 0, 3, 0, "FANCY"]],
}


def test_missing_node_types_are_listed_in_a_dialog(canvas):
    canvas.drop_file("missing.json", json.dumps(MISSING_WORKFLOW).encode(), "application/json")
    dialog = canvas.page.wait_for_selector(".lf-missing")
    text = dialog.inner_text()
    assert "FancyUpscalerThatIsNotInstalled" in text and "AnotherMissingNode" in text
    assert "CheckpointLoaderSimple" not in text
    canvas.shot("missing_nodes_dialog")


def test_missing_nodes_keep_values_and_links_and_save_back_unchanged(canvas):
    canvas.drop_file("missing.json", json.dumps(MISSING_WORKFLOW).encode(), "application/json")
    canvas.page.wait_for_selector(".lf-missing")
    assert canvas.summary() == {"nodes": 3, "links": 2, "groups": 1}
    saved = canvas.hook("lf.saveWorkflow()")
    for key in ("nodes", "links", "groups", "last_node_id", "last_link_id", "version", "config"):
        assert saved[key] == MISSING_WORKFLOW[key], key
    assert saved["extra"]["custom"] == {"kept": True}


def _png_with_text(chunks: dict[str, str]) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00\x00\x00\x00")
    text = b"".join(chunk(b"tEXt", k.encode("latin1") + b"\0" + v.encode()) for k, v in chunks.items())
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + text + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_a_png_carrying_a_workflow_chunk_opens_that_workflow(canvas):
    png = _png_with_text({"prompt": "{}", "workflow": json.dumps(MISSING_WORKFLOW)})
    canvas.clear()
    canvas.drop_file("image.png", png, "image/png")
    canvas.page.wait_for_function("window.__latentflow.summary().nodes === 3")
    assert canvas.hook("lf.node(2).type") == "FancyUpscalerThatIsNotInstalled"


def test_a_png_with_only_a_prompt_chunk_opens_the_api_graph(canvas, object_info):
    prompt = {"4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "tiny_sd15.safetensors"}},
              "8": {"class_type": "VAEDecode", "inputs": {"vae": ["4", 2]}}}
    prompt = {k: v for k, v in prompt.items() if v["class_type"] in object_info}
    if len(prompt) < 2:
        pytest.skip("server lacks CheckpointLoaderSimple or VAEDecode")
    canvas.clear()
    canvas.drop_file("old.png", _png_with_text({"prompt": json.dumps(prompt)}), "image/png")
    canvas.page.wait_for_function("window.__latentflow.summary().nodes === 2")
    assert canvas.summary()["links"] == 1
    assert canvas.hook("lf.exportApi()")["8"]["inputs"]["vae"] == ["4", 2]


def test_download_gives_the_ui_json_and_export_the_api_prompt(canvas):
    canvas.hook("lf.loadWorkflow(arg)", MISSING_WORKFLOW)
    canvas.page.keyboard.press("Escape")
    canvas.page.mouse.click(1100, 830)
    with canvas.page.expect_download() as dl:
        canvas.page.click("#lf-workflow-menu")
        canvas.page.click(".lf-menu-item >> text=Download as file")
    saved = json.loads(open(dl.value.path()).read())
    assert saved["nodes"] == MISSING_WORKFLOW["nodes"]
    with canvas.page.expect_download() as dl:
        canvas.page.click("#lf-workflow-menu")
        canvas.page.click(".lf-menu-item >> text=Export API prompt")
    assert json.loads(open(dl.value.path()).read()) == canvas.hook("lf.exportApi()")


def test_ctrl_o_opens_a_file_chooser_that_loads_the_workflow(canvas, tmp_path):
    path = tmp_path / "wf.json"
    path.write_text(json.dumps(MISSING_WORKFLOW))
    canvas.page.mouse.click(1100, 830)
    with canvas.page.expect_file_chooser() as fc:
        canvas.page.keyboard.press("Control+o")
    fc.value.set_files(str(path))
    canvas.page.wait_for_function("window.__latentflow.summary().nodes === 3")
