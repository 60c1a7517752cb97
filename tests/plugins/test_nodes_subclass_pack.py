"""A pack that subclasses our built-ins through ``nodes`` (ComfyUI's names) loads, reads their class
attributes at import, and its subclasses run in workflows end to end."""
from __future__ import annotations

import sys

import numpy as np
import pytest
from PIL import Image

from nodes_pack_env import CKPT, LORA, comfy_env, tiny_files, txt2img_prompt  # noqa: F401  (fixtures)


@pytest.fixture()
def env(comfy_env):  # noqa: F811
    comfy_env.load("builtin_subclasses")
    return comfy_env


def saved(env, result, kind="output"):
    root = {"output": env.folders.output_dir, "temp": env.folders.temp_dir}[kind]
    images = [img for out in result.outputs.values() for img in out.get("images", []) if img["type"] == kind]
    return [root / img["subfolder"] / img["filename"] for img in images]


def pixels(path):
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"), dtype=np.int16)


def test_subclass_nodes_register_and_show_in_object_info(env):
    info = env.registry.object_info()
    lora = info["SI_LoraLoaderWithTrigger"]
    assert lora["input_order"]["required"] == ["model", "clip", "lora_name", "strength_model", "strength_clip",
                                               "trigger"]
    assert lora["output"] == ["MODEL", "CLIP", "STRING"]
    assert lora["display_name"] == "LoRA Loader (with trigger)"
    assert lora["python_module"] == "custom_nodes.builtin_subclasses"
    assert "scheduler" not in info["SI_FixedSchedulerKSampler"]["input"]["required"]
    assert info["SI_SaveToTemp"]["output_node"] is True


def test_class_attributes_read_at_import_are_the_builtins(env):
    import nodes

    pack = sys.modules["custom_nodes.builtin_subclasses"]
    assert pack.UPSCALE_CHOICES == ["nearest-exact", "bilinear", "area", "bicubic", "lanczos"]
    assert pack.SAMPLER_CHOICES == nodes.KSampler.INPUT_TYPES()["required"]["sampler_name"][0]
    assert "euler" in pack.SAMPLER_CHOICES and pack.MAX_SIZE == nodes.MAX_RESOLUTION


def test_overriding_sample_and_calling_super_gives_ksamplers_result(env):
    prompt = txt2img_prompt()
    prompt["5"]["inputs"]["scheduler"] = "karras"
    prompt["8"] = {"class_type": "SaveImage", "inputs": {"images": ["7", 0], "filename_prefix": "plain"}}
    plain = env.run(prompt)
    assert plain.success, plain.error

    sub = txt2img_prompt()
    sub["5"]["class_type"] = "SI_FixedSchedulerKSampler"
    del sub["5"]["inputs"]["scheduler"]
    sub["8"] = {"class_type": "SaveImage", "inputs": {"images": ["7", 0], "filename_prefix": "sub"}}
    result = env.run(sub)
    assert result.success, result.error
    assert np.array_equal(pixels(saved(env, plain)[0]), pixels(saved(env, result)[0]))


def lora_prompt(strength):
    prompt = txt2img_prompt()
    prompt["6"] = {"class_type": "SI_LoraLoaderWithTrigger",
                   "inputs": {"model": ["1", 0], "clip": ["1", 1], "lora_name": LORA, "strength_model": strength,
                              "strength_clip": strength, "trigger": "style"}}
    prompt["5"]["inputs"]["model"] = ["6", 0]
    for node in ("2", "3"):
        prompt[node]["inputs"]["clip"] = ["6", 1]
    prompt["8"] = {"class_type": "SI_SaveToTemp", "inputs": {"images": ["7", 0], "filename_prefix": "lora"}}
    return prompt


def test_lora_subclass_runs_parent_load_lora_and_saves_through_savimage_subclass(env):
    with_lora = env.run(lora_prompt(1.0))
    assert with_lora.success, (with_lora.error or {}).get("exception_message")
    files = saved(env, with_lora, "temp")
    assert len(files) == 1 and files[0].name.startswith("lora_standin_") and files[0].is_file()
    assert saved(env, with_lora, "output") == []  # the subclass's output_dir and type were honoured

    without = env.run(lora_prompt(0.0))
    assert without.success, without.error
    assert not np.array_equal(pixels(files[0]), pixels(saved(env, without, "temp")[0]))


def test_plain_node_calling_imagescale_upscale_by_its_comfyui_name(env):
    prompt = {"1": {"class_type": "EmptyImage", "inputs": {"width": 16, "height": 16, "batch_size": 1,
                                                           "color": 0xFF0000}},
              "2": {"class_type": "SI_ScaleWithChoices", "inputs": {"image": ["1", 0], "method": "nearest-exact",
                                                                     "size": 40}},
              "3": {"class_type": "SI_SaveToTemp", "inputs": {"images": ["2", 0], "filename_prefix": "scaled"}}}
    result = env.run(prompt)
    assert result.success, result.error
    (path,) = saved(env, result, "temp")
    img = pixels(path)
    assert img.shape == (40, 40, 3) and (img[..., 0] == 255).all() and (img[..., 1:] == 0).all()
