"""Workflow files (JSON in either format, PNGs with metadata) load into a prompt."""
from __future__ import annotations

import json

import pytest

from uigraph import ui_node, ui_workflow

API = {"1": {"class_type": "Loader", "inputs": {"ckpt_name": "b.safetensors"}, "_meta": {"title": "L"}}}


def ui():
    return ui_workflow([ui_node(1, "Loader", widgets_values=["a.safetensors"])], [])


def save_png(path, **text):
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    for key, value in text.items():
        info.add_text(key, json.dumps(value))
    Image.new("RGB", (4, 4)).save(path, pnginfo=info)


def test_api_json_file_loads_as_is(tmp_path, object_info):
    from core.workflow.formats import load_workflow_file

    (tmp_path / "w.json").write_text(json.dumps(API))
    assert load_workflow_file(tmp_path / "w.json", object_info) == (API, None)


def test_ui_json_file_is_converted_and_returned(tmp_path, object_info):
    from core.workflow.formats import load_workflow_file

    (tmp_path / "w.json").write_text(json.dumps(ui()))
    prompt, workflow = load_workflow_file(tmp_path / "w.json", object_info)
    assert prompt["1"]["inputs"] == {"ckpt_name": "a.safetensors"}
    assert workflow == ui()


def test_prompt_request_body_gives_prompt_and_its_workflow(object_info):
    from core.workflow.formats import as_prompt

    body = {"client_id": "c", "prompt": API, "extra_data": {"extra_pnginfo": {"workflow": ui()}}}
    assert as_prompt(body, object_info) == (API, ui())


def test_png_prompt_chunk_wins_over_its_workflow_chunk(tmp_path, object_info):
    from core.workflow.formats import load_workflow_file

    save_png(tmp_path / "img.png", prompt=API, workflow=ui())
    assert load_workflow_file(tmp_path / "img.png", object_info) == (API, ui())


def test_png_with_only_a_workflow_chunk_is_converted(tmp_path, object_info):
    from core.workflow.formats import load_workflow_file

    save_png(tmp_path / "img.png", workflow=ui())
    prompt, workflow = load_workflow_file(tmp_path / "img.png", object_info)
    assert prompt["1"]["inputs"] == {"ckpt_name": "a.safetensors"} and workflow == ui()


def test_png_text_reader_reads_compressed_international_chunks(tmp_path):
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    from core.workflow.formats import read_png_text

    info = PngInfo()
    info.add_itxt("workflow", "ünïcode {}", zip=True)
    info.add_text("plain", "x")
    Image.new("RGB", (2, 2)).save(tmp_path / "i.png", pnginfo=info)
    assert read_png_text((tmp_path / "i.png").read_bytes()) == {"workflow": "ünïcode {}", "plain": "x"}


def test_png_without_metadata_is_refused(tmp_path, object_info):
    from PIL import Image

    from core.workflow.formats import WorkflowError, load_workflow_file

    Image.new("RGB", (2, 2)).save(tmp_path / "bare.png")
    with pytest.raises(WorkflowError, match="no 'workflow' or 'prompt'"):
        load_workflow_file(tmp_path / "bare.png", object_info)


def test_json_that_is_no_workflow_is_refused_with_the_file_name(tmp_path, object_info):
    from core.workflow.formats import WorkflowError, load_workflow_file

    (tmp_path / "odd.json").write_text(json.dumps({"hello": "world"}))
    with pytest.raises(WorkflowError, match="odd.json"):
        load_workflow_file(tmp_path / "odd.json", object_info)
