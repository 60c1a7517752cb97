"""Nodes with a V3 dynamic combo (Resize Image/Mask, Save Image (Advanced)): the option's inputs travel as
``name.child``, the UI layout follows the stored choice, and the nodes behave as ComfyUI's."""
import json
import struct
import zlib

import pytest
import torch

from nodes.image_resize import ResizeImageMaskNode
from nodes.image_save import SaveImageAdvanced


def resize(x, kind, method="area", **option):
    return ResizeImageMaskNode().execute(x, kind, method, **{f"resize_type.{k}": v for k, v in option.items()})[0]


def test_object_info_has_comfyuis_dynamic_combo_shape():
    entry = ResizeImageMaskNode.INPUT_TYPES()["required"]["resize_type"]
    assert entry[0] == "COMFY_DYNAMICCOMBO_V3"
    first = entry[1]["options"][0]
    assert first["key"] == "scale dimensions" and list(first["inputs"]["required"]) == ["width", "height", "crop"]


def test_declared_inputs_include_every_options_children():
    from core.execution.graph import declared_inputs

    declared = declared_inputs(SaveImageAdvanced.INPUT_TYPES())
    assert declared["format.bit_depth"][0] == "optional"
    assert {"8-bit", "16-bit", "32-bit float", "auto"} <= set(declared["format.bit_depth"][1])
    assert "format.save_mode.fps" in declared


@pytest.mark.parametrize("stored, names", [
    (["scale dimensions", 640, 360, "center", "lanczos"],
     ["resize_type", "resize_type.width", "resize_type.height", "resize_type.crop", "scale_method"]),
    (["scale total pixels", 1, "lanczos"], ["resize_type", "resize_type.megapixels", "scale_method"]),
])
def test_widget_layout_follows_the_stored_choice(stored, names):
    from core.execution.registry import NodeRegistry
    from core.workflow.widgets import node_widgets, widget_values

    registry = NodeRegistry()
    registry.register(ResizeImageMaskNode, module="tests")
    widgets = node_widgets(registry.object_info()["ResizeImageMaskNode"], stored)
    assert [w.name for w in widgets] == names
    assert widget_values(widgets, stored)["scale_method"] == stored[-1]


def test_a_template_node_converts_to_flat_keys_and_validates():
    from core.execution.registry import NodeRegistry
    from core.execution.validate import validate_prompt
    from core.workflow.formats import ui_to_api
    from nodes import register_builtin_nodes

    registry = NodeRegistry()
    register_builtin_nodes(registry)
    nodes = [{"id": 1, "type": "EmptyImage", "mode": 0, "inputs": [], "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [1]}],
              "widgets_values": [64, 48, 1, 0]},
             {"id": 2, "type": "ResizeImageMaskNode", "mode": 0, "inputs": [{"name": "input", "type": "IMAGE,MASK", "link": 1}],
              "outputs": [{"name": "resized", "type": "IMAGE", "links": [2]}],
              "widgets_values": ["scale dimensions", 32, 32, "center", "area"]},
             {"id": 3, "type": "SaveImageAdvanced", "mode": 0, "inputs": [{"name": "images", "type": "IMAGE", "link": 2}],
              "outputs": [], "widgets_values": ["ComfyUI", "png", "16-bit", "sRGB"]}]
    prompt = ui_to_api({"nodes": nodes, "links": [[1, 1, 0, 2, 0, "IMAGE"], [2, 2, 0, 3, 0, "IMAGE"]]},
                       registry.object_info())
    assert prompt["2"]["inputs"] == {"resize_type": "scale dimensions", "resize_type.width": 32,
                                     "resize_type.height": 32, "resize_type.crop": "center", "scale_method": "area",
                                     "input": ["1", 0]}
    assert prompt["3"]["inputs"]["format.bit_depth"] == "16-bit"
    assert validate_prompt(registry, prompt).ok


@pytest.mark.parametrize("kind, option, hw", [
    ("scale dimensions", {"width": 40, "height": 0}, (27, 40)), ("scale by multiplier", {"multiplier": 0.5}, (10, 15)),
    ("scale longer dimension", {"longer_size": 60}, (40, 60)), ("scale shorter dimension", {"shorter_size": 10}, (10, 15)),
    ("scale width", {"width": 15}, (10, 15)), ("scale height", {"height": 40}, (40, 60)),
    ("scale total pixels", {"megapixels": 0.0011444}, (28, 42)), ("scale to multiple", {"multiple": 8}, (16, 24)),
])
def test_resize_types_on_an_image(kind, option, hw):
    assert tuple(resize(torch.rand(1, 20, 30, 3), kind, **option).shape[1:3]) == hw


def test_resize_a_mask_to_match_another_image():
    out = resize(torch.rand(2, 20, 30), "match size", match=torch.zeros(1, 8, 12, 3), crop="disabled")
    assert out.shape == (2, 8, 12)


def test_save_image_advanced_writes_a_16_bit_png_with_the_prompt(tmp_path):
    from core import paths

    paths.configure(base=tmp_path)
    image = torch.zeros(1, 2, 3, 3)
    image[0, 0, 0] = torch.tensor([1.0, 0.5, 0.0])
    out = SaveImageAdvanced().execute(image, "adv", "png", prompt={"1": {}}, **{"format.bit_depth": "16-bit"})
    entry = out["ui"]["images"][0]
    data = (tmp_path / "output" / entry["subfolder"] / entry["filename"]).read_bytes()
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    assert (width, height, depth, colour) == (3, 2, 16, 2)
    idat = data.index(b"IDAT")
    raw = zlib.decompress(data[idat + 4:idat + 4 + struct.unpack(">I", data[idat - 4:idat])[0]])
    assert struct.unpack(">HHH", raw[1:7]) == (65535, 32768, 0)
    from core.workflow.formats import read_png_text

    assert json.loads(read_png_text(data)["prompt"]) == {"1": {}}
    assert out["result"][0] is image


def test_save_image_advanced_refuses_formats_it_does_not_write(tmp_path):
    with pytest.raises(ValueError, match="SaveImageAdvanced, input 'format'"):
        SaveImageAdvanced().execute(torch.zeros(1, 2, 2, 3), "x", "exr")
