"""Preview Any shows any value as text; Mask Preview and Image Compare write temp images for the UI."""
import pytest
import torch

from nodes import preview


@pytest.fixture()
def folders(tmp_path):
    from core import paths

    return paths.configure(base=tmp_path)


@pytest.mark.parametrize("value, text", [("hi", "hi"), (3, "3"), (True, "True"), ({"a": [1, 2]}, '{"a": [1, 2]}'),
                                         (None, "None")])
def test_preview_any_shows_the_value_and_passes_it_on_as_text(value, text):
    out = preview.PreviewAny().execute(value)
    assert out["ui"]["text"] == (text,) and out["result"] == (text,)


def test_preview_any_of_a_tensor_names_its_shape():
    assert "shape (1, 2)" in preview.PreviewAny().execute(torch.zeros(1, 2))["result"][0]


def test_mask_preview_writes_a_grey_temp_png(folders):
    images = preview.MaskPreview().execute(torch.rand(2, 8, 8))["ui"]["images"]
    assert len(images) == 2 and images[0]["type"] == "temp"
    assert (folders.temp_dir / images[0]["subfolder"] / images[0]["filename"]).is_file()


def test_image_compare_saves_both_sides(folders):
    ui = preview.ImageCompare().execute(torch.rand(1, 8, 8, 3), torch.rand(1, 8, 8, 3))["ui"]
    assert len(ui["a_images"]) == 1 and len(ui["b_images"]) == 1
    assert preview.ImageCompare().execute(None, None)["ui"] == {"a_images": [], "b_images": []}
