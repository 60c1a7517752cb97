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


def test_png_text_reader_takes_a_path_as_well_as_bytes(tmp_path):
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    from core.workflow.png import read_png_text

    info = PngInfo()
    info.add_text("prompt", '{"1": {}}')
    info.add_text("workflow", "ünïcode", zip=True)
    Image.new("RGB", (2, 2)).save(tmp_path / "i.png", pnginfo=info)
    expected = {"prompt": '{"1": {}}', "workflow": "ünïcode"}
    assert read_png_text(tmp_path / "i.png") == read_png_text((tmp_path / "i.png").read_bytes()) == expected


def test_png_text_reader_refuses_a_file_that_is_not_a_png(tmp_path):
    import pytest

    from core.workflow.png import read_png_text

    (tmp_path / "x.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a png")
    with pytest.raises(ValueError, match="not a PNG"):
        read_png_text(tmp_path / "x.jpg")


def test_png_text_reader_skips_a_damaged_compressed_chunk_and_keeps_the_rest():
    import struct
    import zlib

    from core.workflow.png import PNG_SIGNATURE, read_png_text

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    data = (PNG_SIGNATURE + chunk(b"zTXt", b"broken\0\0not zlib") + chunk(b"tEXt", b"prompt\0{}")
            + chunk(b"IEND", b""))
    assert read_png_text(data) == {"prompt": "{}"}


def test_png_text_chunks_are_parsed_in_one_module_only():
    """core/workflow/png.py is the one reader: no other product module parses chunks or reads PIL's .text."""
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    sources = [repo / "main.py", *(repo / "core").rglob("*.py"), *(repo / "nodes").rglob("*.py")]
    readers = [p.relative_to(repo).as_posix() for p in sources
               if p != repo / "core" / "workflow" / "png.py"
               and any(s in p.read_text(encoding="utf-8") for s in ('b"tEXt"', 'b"iTXt"', 'b"zTXt"', '"text", {}',
                                                                    '"text", None', ".text.items()"))]
    assert readers == []
