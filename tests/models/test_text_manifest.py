"""Full-size text encoders built on ``meta`` have exactly the released checkpoints' keys and shapes."""
import json

import pytest
import torch

from core.models.clip import CLIP_L, OPENCLIP_BIGG, OPENCLIP_H, build_encoder, to_checkpoint, to_module_keys
from core.models.text_encoder import clip_from_checkpoint
from tests.testdata import MANIFESTS

TOWERS = [  # (manifest, config, checkpoint prefix)
    ("sd15", CLIP_L, "cond_stage_model.transformer."),
    ("sd21_768v", OPENCLIP_H, "cond_stage_model.model."),
    ("sdxl_base_1.0", CLIP_L, "conditioner.embedders.0.transformer."),
    ("sdxl_base_1.0", OPENCLIP_BIGG, "conditioner.embedders.1.model."),
]
FAMILIES = [("sd15", "sd1"), ("sd21_768v", "sd2"), ("sdxl_base_1.0", "sdxl")]
TEXT_PREFIXES = ("cond_stage_model.", "conditioner.")


def manifest(name):
    return json.loads((MANIFESTS / f"{name}.json").read_text(encoding="utf-8"))


def text_keys(data, prefix=TEXT_PREFIXES):
    return {k: list(v) for k, v in data["keys"].items() if k.startswith(prefix)}


@pytest.mark.parametrize("name,config,prefix", TOWERS, ids=lambda x: x if isinstance(x, str) else None)
def test_meta_build_maps_to_the_manifest_keys_and_shapes(name, config, prefix):
    module = build_encoder(config, "meta")
    ours = {prefix + k: list(v.shape) for k, v in to_checkpoint(module.state_dict(), config.layout).items()}
    assert ours == text_keys(manifest(name), prefix)


@pytest.mark.parametrize("name,config,prefix", TOWERS, ids=lambda x: x if isinstance(x, str) else None)
def test_manifest_keys_map_onto_every_module_weight(name, config, prefix):
    module = build_encoder(config, "meta")
    released = {k[len(prefix):]: torch.empty(v, device="meta") for k, v in text_keys(manifest(name), prefix).items()}
    mapped = to_module_keys(released, config.layout)
    assert {k: tuple(v.shape) for k, v in mapped.items()} == {k: tuple(v.shape) for k, v in module.state_dict().items()}


@pytest.mark.parametrize("name,family", FAMILIES)
def test_clip_from_checkpoint_detects_full_sizes_from_shapes(name, family):
    data = manifest(name)
    sd = {k: torch.empty(v, device="meta") for k, v in data["keys"].items()}
    sd.update({k: torch.empty(v, device="meta") for k, v in data["optional_keys"].items()
               if k.startswith(TEXT_PREFIXES)})  # position_ids must be accepted and ignored
    clip = clip_from_checkpoint(sd, family, dtype=torch.float16, device="meta")
    saved = {k: list(v.shape) for k, v in clip.state_dict().items()}
    assert saved == text_keys(data)


def test_full_size_heads_are_64_wide():
    for config, heads in ((CLIP_L, 12), (OPENCLIP_H, 16), (OPENCLIP_BIGG, 20)):
        module = build_encoder(config, "meta")
        assert module.layers[0].self_attn.num_heads == heads == config.hidden_size // 64


@pytest.mark.parametrize("name,family", FAMILIES)
def test_parameter_count_equals_the_manifest(name, family):
    data = manifest(name)
    expected = sum(c["params"] for k, c in data["components"].items() if k.startswith("text_encoder"))
    sd = {k: torch.empty(v, device="meta") for k, v in text_keys(data).items()}
    clip = clip_from_checkpoint(sd, family, dtype=torch.float32, device="meta")
    assert sum(v.numel() for v in clip.state_dict().values()) == expected
