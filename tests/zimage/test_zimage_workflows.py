"""Z-Image workflows as users have them: the official frontend's default Z-Image graph (reconstructed by
hand, tests/data/workflows/index.md) and the official image_z_image_turbo / image_z_image templates
(subgraphs), run headless on tiny files with their own node settings (res_multistep, ModelSamplingAuraFlow
3; cfg 1 for Turbo, cfg 4 with an empty negative prompt for Base)."""
from __future__ import annotations

import json

import pytest
import torch

from tests import testdata
from zimage_workflow_run import registry, run, to_latent_prompt


@pytest.fixture(scope="module")
def reg():
    return registry()


def load(name: str) -> dict:
    return json.loads(testdata.workflow(f"z_image/{name}.ui.json").read_text(encoding="utf-8"))


def test_the_default_graph_wires_the_z_image_loaders_into_the_sampler(reg):
    prompt, ks = to_latent_prompt(load("z_image_turbo_default_graph"), reg)
    by_type = {v["class_type"]: (k, v["inputs"]) for k, v in prompt.items()}
    assert by_type["UNETLoader"][1] == {"unet_name": "z_image_turbo_bf16.safetensors", "weight_dtype": "default"}
    assert by_type["CLIPLoader"][1]["type"] == "lumina2"
    assert by_type["ModelSamplingAuraFlow"][1]["shift"] == 3
    sampler = prompt[ks]["inputs"]
    assert (sampler["sampler_name"], sampler["scheduler"], sampler["cfg"], sampler["steps"]) == \
        ("res_multistep", "simple", 1, 8)
    assert sampler["model"] == [by_type["ModelSamplingAuraFlow"][0], 0]


@pytest.mark.parametrize("name", ["z_image_turbo_default_graph", "image_z_image_turbo", "image_z_image"])
def test_the_workflow_samples_a_16_channel_latent_on_tiny_files(name, reg, cpu_fp32, folders):
    prompt, ks = to_latent_prompt(load(name), reg)
    for node in prompt.values():  # CPU-sized: 64 x 64 pixels, 2 steps
        if node["class_type"] == "EmptySD3LatentImage":
            node["inputs"].update(width=64, height=64)
    prompt[ks]["inputs"]["steps"] = 2
    latent = run(prompt, reg, folders.base)["samples"]
    assert latent.shape == (1, 16, 8, 8)
    assert torch.isfinite(latent).all() and float(latent.std()) > 0


def test_the_base_template_guides_with_an_empty_negative_prompt(reg):
    prompt, ks = to_latent_prompt(load("image_z_image"), reg)
    sampler = prompt[ks]["inputs"]
    assert sampler["cfg"] == 4 and sampler["steps"] == 25
    negative = prompt[sampler["negative"][0]]
    assert negative["class_type"] == "CLIPTextEncode" and negative["inputs"]["text"] == ""
