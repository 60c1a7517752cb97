"""SaveImage/PreviewImage: ComfyUI's file names, counters, subfolders, placeholders and PNG text chunks."""
import time

import numpy as np
import pytest
import torch
from PIL import Image

from core.workflow import png as pngmeta
from core.workflow.png import expand_placeholders, read_png_text, read_png_workflow
from nodes.image_output import PreviewImage, SaveImage


def _images(n=1, h=16, w=24):
    return torch.rand(n, h, w, 3, generator=torch.Generator().manual_seed(0))


def test_save_image_names_files_with_a_five_digit_counter_per_batch_item(folders):
    ui = SaveImage().execute(_images(2), "ComfyUI")["ui"]
    assert ui["images"] == [{"filename": "ComfyUI_00001_.png", "subfolder": "", "type": "output"},
                            {"filename": "ComfyUI_00002_.png", "subfolder": "", "type": "output"}]
    assert (folders.output_dir / "ComfyUI_00002_.png").is_file()


def test_counter_continues_after_the_highest_existing_file(folders):
    folders.output_dir.mkdir(parents=True)
    (folders.output_dir / "shot_00007_.png").write_bytes(b"")
    (folders.output_dir / "other_00099_.png").write_bytes(b"")
    ui = SaveImage().execute(_images(), "shot")["ui"]
    assert ui["images"][0]["filename"] == "shot_00008_.png"


def test_prefix_with_slash_saves_into_a_subfolder(folders):
    ui = SaveImage().execute(_images(), "portraits/day1/img")["ui"]
    assert ui["images"][0] == {"filename": "img_00001_.png", "subfolder": "portraits/day1", "type": "output"}
    assert (folders.output_dir / "portraits" / "day1" / "img_00001_.png").is_file()


def test_prefix_escaping_the_output_folder_is_refused(folders):
    with pytest.raises(ValueError, match="SaveImage, input 'filename_prefix'.*outside the output folder"):
        SaveImage().execute(_images(), "../evil")


def test_size_and_date_placeholders_are_expanded():
    now = time.struct_time((2024, 3, 5, 7, 8, 9, 0, 0, 0))
    assert expand_placeholders("%width%x%height%_%year%-%month%-%day%_%hour%%minute%%second%", 640, 480, now) \
        == "640x480_2024-03-05_070809"


def test_batch_num_placeholder_is_substituted_per_image(folders):
    ui = SaveImage().execute(_images(2), "b%batch_num%")["ui"]
    assert [i["filename"] for i in ui["images"]] == ["b0_00001_.png", "b1_00002_.png"]


def test_png_carries_prompt_and_one_chunk_per_extra_pnginfo_key(folders):
    prompt = {"3": {"class_type": "KSampler", "inputs": {"seed": 1}}}
    extra = {"workflow": {"nodes": [1, 2]}, "comment": "hello"}
    ui = SaveImage().execute(_images(), "meta", prompt=prompt, extra_pnginfo=extra)["ui"]
    path = folders.output_dir / ui["images"][0]["filename"]
    text = read_png_text(path)
    assert set(text) == {"prompt", "workflow", "comment"}
    assert read_png_workflow(path) == (extra["workflow"], prompt)


def test_disable_metadata_writes_no_text_chunks(folders, monkeypatch):
    monkeypatch.setattr(pngmeta, "METADATA_ENABLED", False)
    ui = SaveImage().execute(_images(), "plain", prompt={"1": {}}, extra_pnginfo={"workflow": {}})["ui"]
    assert read_png_text(folders.output_dir / ui["images"][0]["filename"]) == {}


def test_saved_pixels_are_the_image_times_255_truncated(folders):
    img = torch.tensor([[[0.0, 0.5, 1.0], [0.999, 0.2, 1.5]]]).unsqueeze(0)  # [1, 1, 2, 3]
    ui = SaveImage().execute(img, "px")["ui"]
    with Image.open(folders.output_dir / ui["images"][0]["filename"]) as im:
        assert [tuple(px) for px in np.asarray(im).reshape(-1, 3).tolist()] == [(0, 127, 255), (254, 51, 255)]


def test_preview_image_goes_to_temp_with_a_random_prefix(folders):
    ui = PreviewImage().execute(_images())["ui"]
    entry = ui["images"][0]
    assert entry["type"] == "temp" and entry["subfolder"] == ""
    assert entry["filename"].startswith("ComfyUI_temp_") and entry["filename"].endswith("_00001_.png")
    assert len(entry["filename"].split("_")[2]) == 5
    assert (folders.temp_dir / entry["filename"]).is_file()
