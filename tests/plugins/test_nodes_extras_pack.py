"""A pack importing built-in classes from ComfyUI's comfy_extras modules loads, runs them in a workflow
(classic method names and the V3 ``Cls.execute`` form), and a name Latentflow lacks fails only when used."""
from __future__ import annotations

import sys

import pytest

from nodes_pack_env import comfy_env, tiny_files, txt2img_prompt  # noqa: F401  (fixtures)


@pytest.fixture()
def env(comfy_env):  # noqa: F811
    comfy_env.load("extras_user")
    return comfy_env


def test_pack_with_a_missing_comfy_extras_name_still_registers_all_its_nodes(env):
    info = env.registry.object_info()
    assert {"EX_CustomSampleTwice", "EX_CropMaskUser"} <= set(info)
    assert info["EX_CustomSampleTwice"]["python_module"] == "custom_nodes.extras_user"


def test_upscale_node_offers_the_v3_calling_convention_packs_test_for(env):
    # the pack computed this at import: "execute" in dir(ImageUpscaleWithModel)
    import nodes

    assert sys.modules["custom_nodes.extras_user"].UPSCALE_IS_V3 is True
    assert callable(nodes.ImageUpscaleWithModel.execute) and nodes.ImageUpscaleWithModel().upscale


def test_custom_sampling_through_comfy_extras_classes_runs_end_to_end(env):
    prompt = txt2img_prompt({"class_type": "EX_CustomSampleTwice",
                             "inputs": {"model": ["1", 0], "positive": ["2", 0], "negative": ["3", 0],
                                        "latent": ["4", 0], "seed": 1}})
    prompt["8"] = {"class_type": "SaveImage", "inputs": {"images": ["7", 0], "filename_prefix": "extras"}}
    result = env.run(prompt)
    assert result.success, (result.error or {}).get("exception_message")
    images = result.outputs["8"]["images"]
    assert len(images) == 2  # LatentBatch.execute(out, out) doubled the batch
    assert all((env.folders.output_dir / i["subfolder"] / i["filename"]).is_file() for i in images)


def test_using_a_comfy_extras_name_latentflow_lacks_fails_naming_it(env):
    prompt = {"1": {"class_type": "EmptyImage", "inputs": {"width": 16, "height": 16, "batch_size": 1, "color": 0}},
              "2": {"class_type": "ImagePadForOutpaint", "inputs": {"image": ["1", 0], "left": 8, "top": 0,
                                                                     "right": 0, "bottom": 0, "feathering": 0}},
              "3": {"class_type": "EX_CropMaskUser", "inputs": {"mask": ["2", 1]}}}
    result = env.run(prompt)
    assert not result.success
    assert result.error["node_type"] == "EX_CropMaskUser"
    assert "comfy_extras.nodes_mask.CropMask is a ComfyUI name that Latentflow does not provide" \
        in result.error["exception_message"]


def test_names_newer_than_our_comfyui_list_import_and_fail_at_use():
    """Packs track ComfyUI's main branch: a helper it added later must not stop the pack importing."""
    from core.compat import ensure_on_path

    ensure_on_path()
    from comfy_extras.nodes_lt import _helper_from_a_later_release as helper

    with pytest.raises(NotImplementedError, match="comfy_extras.nodes_lt._helper_from_a_later_release is a "
                                                  "ComfyUI name that Latentflow does not provide"):
        helper([], [])


def test_nodes_module_still_refuses_names_comfyui_never_had():
    import nodes

    with pytest.raises(AttributeError, match="module 'nodes' has no attribute 'NoSuchNode'"):
        nodes.NoSuchNode  # noqa: B018
