"""MODEL values carry ComfyUI's ModelPatcher API: clone + patches, model_options hooks, model_sampling."""
from __future__ import annotations

import pytest

from comfypacks import probe, run, txt2img_nodes


def _sampled(registry, extra_nodes: dict, model_source=("1", 0), **kw):
    prompt = txt2img_nodes(model_source=model_source, **kw)
    prompt.update(extra_nodes)
    prompt["9"] = probe("5", 0, "latent")
    result, seen = run(registry, prompt)
    assert result.success, result.error
    return seen["latent"]["samples"]


def test_a_diff_patch_on_a_clone_changes_the_result_and_not_the_original(comfy_registry):
    import torch

    base = _sampled(comfy_registry, {})
    patched = _sampled(comfy_registry, {"20": {"class_type": "ScaleOneWeight",
                                               "inputs": {"model": ["1", 0], "amount": 0.5}}}, ("20", 0))
    again = _sampled(comfy_registry, {})
    assert not torch.allclose(base, patched, atol=1e-4)
    assert torch.equal(base, again)  # the shared weights came back bit for bit


def test_sampler_cfg_function_is_honoured(comfy_registry):
    import torch

    cond_only = _sampled(comfy_registry, {"20": {"class_type": "CondOnlyCFG", "inputs": {"model": ["1", 0]}}},
                         ("20", 0), cfg=5.0)
    cfg_one = _sampled(comfy_registry, {}, cfg=1.0)
    cfg_five = _sampled(comfy_registry, {}, cfg=5.0)
    assert torch.allclose(cond_only, cfg_one, atol=1e-4)
    assert not torch.allclose(cond_only, cfg_five, atol=1e-3)


def test_unet_function_wrapper_sees_every_call_and_keeps_the_result(comfy_registry):
    import sys

    import torch

    calls = sys.modules["custom_nodes.patcher_pack"].CALLS
    calls.clear()
    wrapped = _sampled(comfy_registry, {"20": {"class_type": "CountingWrapper", "inputs": {"model": ["1", 0]}}},
                       ("20", 0), steps=3, cfg=5.0)
    plain = _sampled(comfy_registry, {}, steps=3, cfg=5.0)
    assert len(calls) == 3  # euler: one batched cond+uncond call per step
    assert calls[0] == ((2, 4, 8, 8), [0, 1])
    assert torch.allclose(wrapped, plain, atol=1e-6)


def test_model_sampling_object_gives_the_schedule_sigmas(comfy_registry):
    prompt = {"1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "tiny_sd15.safetensors"}},
              "2": {"class_type": "SigmaRange", "inputs": {"model": ["1", 0]}},
              "3": probe("2", 0, "min"), "4": probe("2", 1, "max")}
    result, seen = run(comfy_registry, prompt)
    assert result.success, result.error
    assert seen["min"] == pytest.approx(0.0292, abs=1e-3) and seen["max"] == pytest.approx(14.6146, abs=1e-3)


def test_a_block_patch_fails_naming_the_unsupported_method(comfy_registry):
    prompt = txt2img_nodes(model_source=("20", 0))
    prompt["20"] = {"class_type": "AttnPatch", "inputs": {"model": ["1", 0]}}
    prompt["9"] = probe("5", 0)
    result, _ = run(comfy_registry, prompt)
    assert not result.success
    assert result.error["node_type"] == "AttnPatch"
    assert "set_model_attn1_patch" in result.error["exception_message"]
    assert result.error["exception_type"].endswith("UnsupportedComfyAPI")


def test_model_patcher_isinstance_holds_for_our_models(comfy_registry):
    import comfy.model_base
    import comfy.model_patcher
    import core.paths
    from core.models.checkpoint import load_checkpoint

    path = core.paths.get().get_full_path_or_raise("checkpoints", "tiny_sd15.safetensors")
    model, _clip, _vae = load_checkpoint(path)
    assert isinstance(model, comfy.model_patcher.ModelPatcher)
    assert isinstance(model.model, comfy.model_base.BaseModel)
    assert not isinstance(model.model, comfy.model_base.SDXL)
    assert model.model.model_type == comfy.model_base.ModelType.EPS
