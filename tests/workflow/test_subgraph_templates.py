"""ComfyUI's official templates with subgraphs expand as the frontend expands them.

The expected prompts in tests/data/workflows/subgraphs/*.api.expected.json were checked by hand against
each template (tests/data/workflows/index.md says what each one exercises).
"""
from __future__ import annotations

import json
import random

import pytest

from comfy_interfaces import template_object_info
from tests.testdata import WORKFLOWS

FOLDER = WORKFLOWS / "subgraphs"
TEMPLATES = ["image_anima_preview", "image_netayume_lumina_t2i", "flux1_dev_uso_reference_image_gen"]


@pytest.fixture(scope="module")
def object_info():
    return template_object_info()


def expand(name, object_info) -> dict:
    from core.workflow.formats import ui_to_api

    workflow = json.loads((FOLDER / f"{name}.ui.json").read_text(encoding="utf-8"))
    return ui_to_api(workflow, object_info, random.Random(0))


def core(prompt) -> dict:
    return {k: {"class_type": v["class_type"], "inputs": v["inputs"]} for k, v in prompt.items()}


@pytest.mark.parametrize("name", TEMPLATES)
def test_template_expands_to_the_hand_checked_prompt(name, object_info):
    expected = json.loads((FOLDER / f"{name}.api.expected.json").read_text(encoding="utf-8"))
    assert core(expand(name, object_info)) == core(expected)


def test_promoted_widgets_take_the_instance_values_in_input_order(object_info):
    prompt = expand("flux1_dev_uso_reference_image_gen", object_info)
    assert prompt["112:6"]["inputs"]["text"].startswith("A European girl")
    assert prompt["112:110"]["inputs"] == {"width": 1024, "height": 1024, "batch_size": 1}
    assert prompt["112:31"]["inputs"]["seed"] == 1058487910949722
    assert prompt["112:40"]["inputs"] == {"clip_name": "sigclip_vision_patch14_384.safetensors"}


def test_a_link_into_a_subgraph_input_reaches_the_inner_node(object_info):
    prompt = expand("flux1_dev_uso_reference_image_gen", object_info)
    assert prompt["112:109"]["inputs"]["image"] == ["47", 0]
    assert prompt["9"]["inputs"]["images"] == ["112:8", 0]


def test_a_bypassed_nested_instance_passes_its_model_input_through(object_info):
    # KSampler <- style-reference subgraph (bypassed) <- another one (bypassed) <- LoraLoaderModelOnly
    prompt = expand("flux1_dev_uso_reference_image_gen", object_info)
    assert prompt["112:31"]["inputs"]["model"] == ["112:43", 0]
    assert not [k for k in prompt if k.startswith(("112:55:", "112:56:"))]


def test_bypassed_nodes_inside_a_subgraph_and_a_bypassed_instance_are_not_emitted(object_info):
    prompt = expand("flux1_dev_uso_reference_image_gen", object_info)
    assert "112:46" not in prompt and "112:53" not in prompt  # bypassed LoadImage nodes inside
    assert not [k for k in prompt if k.startswith("113:")]  # the whole style-reference instance
    assert "73" not in prompt


def test_nested_instance_ids_join_every_container(object_info):
    prompt = expand("image_netayume_lumina_t2i", object_info)
    assert prompt["48:33"]["inputs"]["negative"] == ["48:35:43", 0]
    assert prompt["48:35:43"]["inputs"] == {"text": ["48:35:40", 0], "clip": ["48:34", 1]}


def test_promoted_widget_of_an_instance_without_values_keeps_the_inner_value(object_info):
    # Both instances store no widgets_values: the inner widgets' own values are sent.
    prompt = expand("image_netayume_lumina_t2i", object_info)
    assert prompt["48:35:42"]["inputs"]["value"].startswith("blurry, worst quality")
    assert prompt["48:51"]["inputs"]["value"].startswith("@comfyanonymous")
    assert prompt["48:33"]["inputs"]["seed"] == 0


def test_proxy_widgets_leave_the_inner_values_in_place(object_info):
    prompt = expand("image_anima_preview", object_info)
    assert prompt["60:19"]["inputs"]["steps"] == 30 and prompt["60:19"]["inputs"]["cfg"] == 4
    assert prompt["60:44"]["inputs"] == {"unet_name": "anima-preview3-base.safetensors", "weight_dtype": "default"}
