"""Files between the server and workers that do not share folders (core/cluster/files.py); no Ray."""
from __future__ import annotations

import pytest

from core.cluster import files
from core.server.security import Refused


def test_an_output_file_lands_in_the_servers_folder_of_its_type_under_its_name(folders):
    assert files.receive("output", "sub", "a_00001_.png", b"one", folders, "w0") == "a_00001_.png"
    assert (folders.output_dir / "sub" / "a_00001_.png").read_bytes() == b"one"
    assert files.receive("temp", "", "p.png", b"t", folders, "w0") == "p.png"
    assert (folders.temp_dir / "p.png").read_bytes() == b"t"


def test_a_name_taken_by_other_bytes_gets_the_worker_id_and_the_same_bytes_keep_the_name(folders):
    files.receive("output", "", "a_00001_.png", b"from w0", folders, "w0")
    assert files.receive("output", "", "a_00001_.png", b"from w1", folders, "w1") == "a_00001__w1.png"
    assert files.receive("output", "", "a_00001_.png", b"again", folders, "w1") == "a_00001__w1_2.png"
    assert files.receive("output", "", "a_00001_.png", b"from w0", folders, "w0") == "a_00001_.png"
    assert (folders.output_dir / "a_00001__w1.png").read_bytes() == b"from w1"


def test_a_worker_cannot_write_outside_the_servers_folders(folders):
    with pytest.raises(Refused):
        files.receive("output", "../..", "evil.png", b"x", folders, "w0")
    with pytest.raises(Refused):
        files.receive("input", "", "x.png", b"x", folders, "w0")


def test_renames_reach_every_file_reference_in_a_ui_output_and_in_messages():
    renames = {("output", "", "a.png"): "a_w1.png"}
    ui = {"images": [{"filename": "a.png", "subfolder": "", "type": "output"},
                     {"filename": "b.png", "subfolder": "", "type": "output"}]}
    messages = [["executed", {"node": "9", "output": ui}]]
    assert files.rename(ui, renames)["images"][0]["filename"] == "a_w1.png"
    assert files.rename(ui, renames)["images"][1]["filename"] == "b.png"
    assert files.rename(messages, renames)[0][1]["output"]["images"][0]["filename"] == "a_w1.png"


def test_the_input_files_a_prompt_names_travel_with_it_and_nothing_else(folders):
    (folders.input_dir / "cat.png").write_bytes(b"cat")
    (folders.input_dir / "clip").mkdir()
    (folders.input_dir / "clip" / "mask.png").write_bytes(b"mask")
    prompt = {"1": {"class_type": "LoadImage", "inputs": {"image": "cat.png"}},
              "2": {"class_type": "LoadImageMask", "inputs": {"image": "clip/mask.png [input]", "channel": "alpha"}},
              "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "../secret.txt", "clip": ["4", 1]}}}
    assert files.input_files(prompt, folders) == {"cat.png": b"cat", "clip/mask.png": b"mask"}


def test_shipped_inputs_are_written_into_the_workers_input_folder(folders):
    files.write_inputs({"cat.png": b"cat", "clip/mask.png": b"mask"}, folders)
    assert (folders.input_dir / "clip" / "mask.png").read_bytes() == b"mask"
    with pytest.raises(Refused):
        files.write_inputs({"../x.png": b"x"}, folders)


def test_file_references_are_found_anywhere_in_a_ui_output():
    ui = {"gifs": [{"filename": "v.mp4", "subfolder": "vid", "type": "output", "format": "video/h264-mp4"}],
          "text": ["hello"], "nested": {"x": [{"filename": "t.png", "subfolder": "", "type": "temp"}]},
          "input_ref": [{"filename": "in.png", "subfolder": "", "type": "input"}]}
    assert sorted(r["filename"] for r in files.file_refs(ui)) == ["t.png", "v.mp4"]
