"""Widget values of UI nodes become named API inputs in the frontend's widget order."""
from __future__ import annotations

import pytest

from uigraph import ui_node, ui_workflow


def convert(nodes, links=(), object_info=None, **kw):
    from core.workflow.formats import ui_to_api

    return ui_to_api(ui_workflow(nodes, links), object_info, **kw)


def test_ui_and_api_formats_are_told_apart():
    from core.workflow.formats import is_api_prompt, is_ui_workflow

    ui = ui_workflow([ui_node(1, "Loader", widgets_values=["a.safetensors"])], [])
    api = {"1": {"class_type": "Loader", "inputs": {"ckpt_name": "a.safetensors"}}}
    assert is_ui_workflow(ui) and not is_api_prompt(ui)
    assert is_api_prompt(api) and not is_ui_workflow(api)


def test_control_after_generate_slot_is_skipped(object_info):
    prompt = convert([ui_node(1, "Sampler", widgets_values=[42, "randomize", 30, 5.5, "lbl"])],
                     object_info=object_info)
    assert prompt["1"]["inputs"] == {"seed": 42, "steps": 30, "cfg": 5.5, "label": "lbl"}


def test_int_named_seed_gets_a_control_slot_even_without_the_option(object_info):
    prompt = convert([ui_node(1, "OldSeed", widgets_values=[7, "fixed", 9])], object_info=object_info)
    assert prompt["1"]["inputs"] == {"seed": 7, "steps": 9}


def test_image_upload_button_slot_is_skipped(object_info):
    prompt = convert([ui_node(1, "ImageIn", widgets_values=["b.png", "image", True])], object_info=object_info)
    assert prompt["1"]["inputs"] == {"image": "b.png", "upscale": True}


def test_missing_widgets_values_take_object_info_defaults(object_info):
    prompt = convert([ui_node(1, "Sampler"), ui_node(2, "Loader")], object_info=object_info)
    assert prompt["1"]["inputs"] == {"seed": 0, "steps": 20, "cfg": 8.0, "label": "x"}
    assert prompt["2"]["inputs"] == {"ckpt_name": "a.safetensors"}  # first combo choice


def test_short_widgets_values_fill_the_rest_with_defaults(object_info):
    prompt = convert([ui_node(1, "Sampler", widgets_values=[5, "fixed", 11])], object_info=object_info)
    assert prompt["1"]["inputs"] == {"seed": 5, "steps": 11, "cfg": 8.0, "label": "x"}


def test_trailing_unknown_widget_values_are_ignored(object_info):
    prompt = convert([ui_node(1, "Save", inputs=[("images", "IMAGE", None)], widgets_values=["p", "extra", 3])],
                     object_info=object_info)
    assert prompt["1"]["inputs"] == {"filename_prefix": "p"}


def test_force_input_has_no_widget_slot(object_info):
    prompt = convert([ui_node(1, "Forced", inputs=[("value", "INT", None)], widgets_values=[6])],
                     object_info=object_info)
    assert prompt["1"]["inputs"] == {"n": 6}


def test_widgets_values_stored_as_an_object_are_read_by_name(object_info):
    prompt = convert([ui_node(1, "Sampler", widgets_values={"seed": 3, "steps": 4, "cfg": 2.0, "label": "y"})],
                     object_info=object_info)
    assert prompt["1"]["inputs"] == {"seed": 3, "steps": 4, "cfg": 2.0, "label": "y"}


def test_array_widget_values_are_wrapped_so_they_are_not_links(object_info):
    prompt = convert([ui_node(1, "Multi", widgets_values=[["a", "c"]])], object_info=object_info)
    assert prompt["1"]["inputs"] == {"tags": {"__value__": ["a", "c"]}}


def test_meta_title_is_the_custom_title_else_the_display_name(object_info):
    prompt = convert([ui_node(1, "Loader", widgets_values=["a.safetensors"], title="Base model"),
                      ui_node(2, "Loader", widgets_values=["b.safetensors"]),
                      ui_node(3, "OldSeed", widgets_values=[1, "fixed", 2])], object_info=object_info)
    assert [prompt[i]["_meta"]["title"] for i in ("1", "2", "3")] == ["Base model", "Load Model", "OldSeed"]


def test_unknown_node_type_is_emitted_with_its_links_for_validation_to_name(object_info):
    # Its widget values cannot be named without its definition; validation reports the class.
    prompt = convert([ui_node(1, "Loader", outputs=[("MODEL", "MODEL", [1])]),
                      ui_node(7, "FancyUpscaler", inputs=[("model", "MODEL", 1)], widgets_values=[1])],
                     links=[[1, 1, 0, 7, 0, "MODEL"]], object_info=object_info)
    assert prompt["7"] == {"class_type": "FancyUpscaler", "inputs": {"model": ["1", 0]},
                           "_meta": {"title": "FancyUpscaler"}}


def test_unknown_type_of_a_muted_node_is_not_an_error(object_info):
    prompt = convert([ui_node(7, "FancyUpscaler", mode=2), ui_node(1, "Loader")], object_info=object_info)
    assert set(prompt) == {"1"}
