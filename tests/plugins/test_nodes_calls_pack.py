"""A pack that runs a whole txt2img inside one node by calling our built-ins by ComfyUI's method names
(``CheckpointLoaderSimple().load_checkpoint``, ``LoraLoader().load_lora``, ``CLIPTextEncode().encode``,
``nodes.common_ksampler``, ``VAEDecode().decode``, ``SaveImage().save_images`` ...) gets the same image as
the same graph of built-in nodes."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from core.workflow.png import read_png_workflow
from nodes_pack_env import CKPT, LORA, comfy_env, tiny_files, txt2img_prompt  # noqa: F401  (fixtures)


@pytest.fixture()
def env(comfy_env):  # noqa: F811
    comfy_env.load("builtin_calls")
    return comfy_env


def one_node(strength, seed=3):
    return {"1": {"class_type": "SC_OneNodeTxt2Img",
                  "inputs": {"ckpt_name": CKPT, "lora_name": LORA, "lora_strength": strength, "text": "a cat",
                             "seed": seed}}}


def files(env, result):
    return [env.folders.output_dir / img["subfolder"] / img["filename"]
            for out in result.outputs.values() for img in out.get("images", [])]


def pixels(path):
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"), dtype=np.int16)


def test_the_pack_node_shows_in_object_info_with_its_model_lists(env):
    info = env.registry.object_info()["SC_OneNodeTxt2Img"]
    assert info["input"]["required"]["ckpt_name"][0] == [CKPT]
    assert info["input"]["required"]["lora_name"][0] == [LORA]
    assert info["output"] == ["IMAGE", "LATENT"] and info["output_node"] is True


def test_one_node_txt2img_saves_a_png_carrying_the_prompt(env):
    prompt = one_node(1.0)
    result = env.run(prompt)
    assert result.success, (result.error or {}).get("exception_message")
    (path,) = files(env, result)
    assert path.name.startswith("standin_calls_") and path.is_file()
    _workflow, embedded = read_png_workflow(path)
    assert embedded == prompt


def test_calls_by_comfyui_names_equal_the_graph_of_builtin_nodes(env):
    by_calls = env.run(one_node(0.0, seed=5))  # strength 0: the LoRA is skipped, as LoraLoader does
    assert by_calls.success, (by_calls.error or {}).get("exception_message")
    graph = txt2img_prompt()
    graph["5"]["inputs"]["seed"] = 5
    graph["8"] = {"class_type": "SaveImage", "inputs": {"images": ["7", 0], "filename_prefix": "graph"}}
    by_graph = env.run(graph)
    assert by_graph.success, (by_graph.error or {}).get("exception_message")
    assert np.array_equal(pixels(files(env, by_calls)[0]), pixels(files(env, by_graph)[0]))


def test_lora_loaded_through_load_lora_changes_the_image(env):
    plain, styled = env.run(one_node(0.0)), env.run(one_node(1.0))
    assert plain.success and styled.success
    assert not np.array_equal(pixels(files(env, plain)[0]), pixels(files(env, styled)[0]))


def test_common_ksampler_refuses_an_unknown_sampler_by_name():
    import nodes

    with pytest.raises(ValueError, match="common_ksampler: unknown sampler_name 'no_such'"):
        nodes.common_ksampler(None, 0, 1, 1.0, "no_such", "normal", [], [], {"samples": None})
