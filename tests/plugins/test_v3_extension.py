"""A V3 pack (comfy_api.latest: async comfy_entrypoint -> ComfyExtension -> io.ComfyNode classes) loads
through the real loader, its nodes show in /object_info like classic ones, and they run in our executor
with validation, fingerprints, lazy inputs, hidden values, async execute and ui output."""
from __future__ import annotations

import asyncio
import sys

import numpy as np
import pytest
from PIL import Image

from nodes_pack_env import comfy_env, tiny_files, txt2img_prompt  # noqa: F401  (fixtures)

NODES = ("V3_ScaleLatent", "V3_LazySwitch", "V3_DescribeImage", "V3_MeanColor")


@pytest.fixture()
def env(comfy_env):  # noqa: F811
    comfy_env.load("v3_extension")
    return comfy_env


def pack():
    return sys.modules["custom_nodes.v3_extension"]


def test_entrypoint_nodes_register_under_their_schema_ids_after_on_load(env):
    assert set(NODES) <= set(env.registry.names())
    assert pack().CALLS["on_load"] == 1
    assert env.registry.display_name("V3_ScaleLatent") == "Scale Latent (V3)"


def test_object_info_of_a_v3_node_has_the_classic_shape(env):
    info = env.registry.object_info()["V3_ScaleLatent"]
    assert info["input"]["required"]["factor"] == ("FLOAT", {"default": 1.0, "min": 0.0, "max": 4.0, "step": 0.1})
    assert info["input"]["required"]["mode"] == ("COMBO", {"default": "multiply", "options": ["multiply", "add"]})
    assert info["input_order"] == {"required": ["samples", "factor", "mode"]}
    assert info["output"] == ["LATENT"] and info["output_name"] == ["scaled"]
    assert info["category"] == "stand-in/v3" and info["description"] == "Multiplies or offsets a latent."
    assert info["python_module"] == "custom_nodes.v3_extension"
    lazy = env.registry.object_info()["V3_LazySwitch"]["input"]["required"]
    assert lazy["first"] == ("IMAGE", {"lazy": True})
    described = env.registry.object_info()["V3_DescribeImage"]
    assert described["output_node"] is True
    assert described["input"]["hidden"] == {"unique_id": "UNIQUE_ID", "prompt": "PROMPT",
                                            "extra_pnginfo": "EXTRA_PNGINFO"}


def test_object_info_route_serves_v3_nodes(env):
    from aiohttp.test_utils import TestClient, TestServer

    from core.server import ServerConfig, create_app

    async def main():
        cfg = ServerConfig(folders=env.folders, db_path=env.folders.base / "queue.db",
                           web_root=env.folders.base / "web")
        async with TestClient(TestServer(create_app(env.registry, cfg))) as client:
            resp = await client.get("/object_info/V3_MeanColor")
            assert resp.status == 200
            body = await resp.json()
            assert body["V3_MeanColor"]["output"] == ["FLOAT", "STRING"]
            assert body["V3_MeanColor"]["input"]["required"]["image"][0] == "IMAGE,LATENT"
            everything = await (await client.get("/object_info")).json()
            assert set(NODES) <= set(everything) and "KSampler" in everything

    asyncio.run(main())


def scaled_prompt(factor, mode="multiply"):
    prompt = txt2img_prompt()
    prompt["6"] = {"class_type": "V3_ScaleLatent", "inputs": {"samples": ["5", 0], "factor": factor, "mode": mode}}
    prompt["7"]["inputs"]["samples"] = ["6", 0]
    prompt["8"] = {"class_type": "SaveImage", "inputs": {"images": ["7", 0], "filename_prefix": f"v3_{factor}"}}
    return prompt


def pixels(env, result, node="8"):
    (img,) = result.outputs[node]["images"]
    with Image.open(env.folders.output_dir / img["subfolder"] / img["filename"]) as f:
        return np.asarray(f.convert("RGB"), dtype=np.int16)


def test_v3_node_in_a_txt2img_workflow_runs_end_to_end(env):
    identity = env.run(scaled_prompt(1.0))
    assert identity.success, (identity.error or {}).get("exception_message")
    baseline = txt2img_prompt()
    baseline["8"] = {"class_type": "SaveImage", "inputs": {"images": ["7", 0], "filename_prefix": "base"}}
    plain = env.run(baseline)
    assert np.array_equal(pixels(env, identity), pixels(env, plain))
    halved = env.run(scaled_prompt(0.5))
    assert halved.success and not np.array_equal(pixels(env, halved), pixels(env, plain))


def test_validate_inputs_refusal_is_a_validation_error_naming_the_message(env):
    result = env.run(scaled_prompt(3.0))
    assert not result.success
    assert result.error["type"] == "validation"
    assert "factor 3.0 is refused by this node" in str(result.error["node_errors"]["6"])


def test_fingerprint_inputs_decides_reuse_between_runs(env):
    from core.execution.executor import Executor

    executor = Executor(env.registry)
    prompt = {"1": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
              "2": {"class_type": "V3_ScaleLatent", "inputs": {"samples": ["1", 0], "factor": 2.0, "mode": "add"}},
              "3": {"class_type": "V3_MeanColor", "inputs": {"image": ["2", 0]}}}
    before = pack().CALLS["fingerprint"]
    first = env.run(prompt, executor)
    second = env.run(prompt, executor)
    assert first.success and second.success
    assert pack().CALLS["fingerprint"] > before
    assert first.outputs["3"]["text"] == ["2.000"]
    assert "2" in first.executed and "2" not in second.executed
    prompt["2"]["inputs"]["factor"] = 1.0  # a new fingerprint: runs again
    third = env.run(prompt, executor)
    assert "2" in third.executed and third.outputs["3"]["text"] == ["1.000"]


def lazy_prompt(use_first):
    return {"1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0xFFFFFF}},
            "2": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
            "3": {"class_type": "V3_LazySwitch", "inputs": {"use_first": use_first, "first": ["1", 0],
                                                            "second": ["2", 0]}},
            "4": {"class_type": "V3_MeanColor", "inputs": {"image": ["3", 0]}}}


@pytest.mark.parametrize("use_first,ran,skipped,mean", [(True, "1", "2", "1.000"), (False, "2", "1", "0.000")])
def test_lazy_inputs_run_only_the_branch_check_lazy_status_asks_for(env, use_first, ran, skipped, mean):
    result = env.run(lazy_prompt(use_first))
    assert result.success, (result.error or {}).get("exception_message")
    assert ran in result.executed and skipped not in result.executed
    assert result.outputs["4"]["text"] == [mean]


def test_async_execute_sees_hidden_unique_id_and_returns_ui_images(env):
    prompt = {"1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 4, "batch_size": 1, "color": 0}},
              "9": {"class_type": "V3_DescribeImage", "inputs": {"image": ["1", 0]}}}
    result = env.run(prompt)
    assert result.success, (result.error or {}).get("exception_message")
    ui = result.outputs["9"]
    assert ui["text"] == ["node 9: (1, 4, 8, 3)"]
    (image,) = ui["images"]
    assert image["type"] == "temp" and (env.folders.temp_dir / image["subfolder"] / image["filename"]).is_file()


def image(color):
    return {"class_type": "EmptyImage", "inputs": {"width": 4, "height": 4, "batch_size": 1, "color": color}}


def test_dynamic_combo_and_matchtype_keep_comfyuis_object_info_shape(env):
    info = env.registry.object_info()["V3_AdjustImageOrMask"]
    assert info["input"]["required"]["image"][0] == "IMAGE,MASK"
    kind, opts = info["input"]["required"]["method"]
    assert kind == "COMFY_DYNAMICCOMBO_V3"  # ComfyUI's shape: each option lists its own inputs
    assert [o["key"] for o in opts["options"]] == ["scale", "offset", "invert"]
    assert opts["options"][1]["inputs"]["required"]["amount"] == ("FLOAT", {"default": 0.25, "min": -1.0,
                                                                            "max": 1.0})
    assert "optional" not in info["input"]
    assert info["output"] == ["*"]


@pytest.mark.parametrize("inputs,expected_call,mean", [
    ({"method": "scale", "method.factor": 0.5, "method.amount": 0.9, "method.clamp": False},
     {"method": "scale", "factor": 0.5}, "0.500"),
    ({"method": "offset", "method.amount": -0.25, "method.clamp": True},
     {"method": "offset", "amount": -0.25, "clamp": True}, "0.750"),
    ({"method": "invert"}, {"method": "invert"}, "0.000"),
])
def test_dynamic_combo_values_arrive_nested_with_only_the_chosen_options_inputs(env, inputs, expected_call, mean):
    prompt = {"1": image(0xFFFFFF),
              "2": {"class_type": "V3_AdjustImageOrMask", "inputs": {"image": ["1", 0], **inputs}},
              "3": {"class_type": "V3_MeanColor", "inputs": {"image": ["2", 0]}}}
    result = env.run(prompt)
    assert result.success, (result.error or {}).get("exception_message") or result.error
    assert pack().CALLS["method"] == expected_call
    assert result.outputs["3"]["text"] == [mean]


def test_autogrow_inputs_arrive_as_one_dict_of_the_linked_ones(env):
    prompt = {"1": image(0x404040), "2": image(0x202020),
              "3": {"class_type": "V3_SumAll", "inputs": {"images.image0": ["1", 0], "images.image2": ["2", 0]}},
              "4": {"class_type": "V3_MeanColor", "inputs": {"image": ["3", 0]}}}
    result = env.run(prompt)
    assert result.success, (result.error or {}).get("exception_message") or result.error
    assert pack().CALLS["images"] == ["image0", "image2"]
    assert result.outputs["4"]["text"] == [f"{(0x40 + 0x20) / 255:.3f}"]


def test_autogrow_minimum_is_a_required_input(env):
    prompt = {"3": {"class_type": "V3_SumAll", "inputs": {}},
              "4": {"class_type": "V3_MeanColor", "inputs": {"image": ["3", 0]}}}
    result = env.run(prompt)
    assert not result.success and result.error["type"] == "validation"
    assert "images.image0" in str(result.error["node_errors"]["3"])


def test_a_dynamic_combo_options_input_is_validated_under_its_dotted_key(env):
    prompt = {"1": image(0xFFFFFF),
              "2": {"class_type": "V3_AdjustImageOrMask",
                    "inputs": {"image": ["1", 0], "method": "scale", "method.factor": 5.0}},
              "3": {"class_type": "V3_MeanColor", "inputs": {"image": ["2", 0]}}}
    result = env.run(prompt)
    assert not result.success and result.error["type"] == "validation"
    assert "value_bigger_than_max" in str(result.error["node_errors"]["2"])
