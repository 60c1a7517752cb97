"""The full-size SD3.5 Large and Medium transformers: detection reads the published hyperparameters from
the manifests' shapes, and our MM-DiT built on meta from them has exactly the released keys and shapes."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

MANIFESTS = Path(__file__).resolve().parents[1] / "data" / "reference" / "checkpoints"

PUBLISHED = {
    # diffusers' configs for stabilityai/stable-diffusion-3.5-large / -medium
    "sd35_large": dict(depth=38, hidden_size=2432, num_heads=38, pos_embed_max_size=192, qk_norm=True,
                       x_block_self_attn_layers=()),
    "sd35_medium": dict(depth=24, hidden_size=1536, num_heads=24, pos_embed_max_size=384, qk_norm=True,
                        x_block_self_attn_layers=tuple(range(13))),
}


def _manifest(name: str) -> dict:
    return json.loads((MANIFESTS / f"{name}.json").read_text())


@pytest.mark.parametrize("name", list(PUBLISHED))
def test_detection_reads_the_published_configuration(name):
    from core.models.detection import detect

    shapes = {"model.diffusion_model." + k: v for k, v in _manifest(name)["keys"].items()}
    config = detect(shapes, name=name)
    assert (config.family, config.prediction, config.extra["variant"]) == ("sd3", "flow", name)
    cfg = config.unet
    for field, value in PUBLISHED[name].items():
        assert getattr(cfg, field) == value, field
    assert (cfg.in_channels, cfg.out_channels, cfg.patch_size) == (16, 16, 2)
    assert (cfg.context_in_dim, cfg.pooled_dim) == (4096, 2048)


@pytest.mark.parametrize("name", list(PUBLISHED))
def test_mmdit_on_meta_has_exactly_the_released_keys_and_shapes(name):
    from core.models.building import on_meta
    from core.models.detection import detect_mmdit_config
    from core.models.mmdit import MMDiT

    keys = _manifest(name)["keys"]
    net = on_meta(lambda: MMDiT(detect_mmdit_config(keys, "")))
    ours = {k: list(v.shape) for k, v in net.state_dict().items()}
    assert sorted(set(keys) - set(ours)) == []
    assert sorted(set(ours) - set(keys)) == []
    assert {k: s for k, s in ours.items() if keys[k] != s} == {}


def test_sd3_medium_30_without_qk_norm_is_told_apart():
    from core.models.detection import detect

    shapes = {k: v for k, v in _manifest("sd35_medium")["keys"].items() if ".ln_" not in k and ".attn2." not in k}
    shapes["pos_embed"] = [1, 192 * 192, 1536]
    config = detect(shapes)
    assert config.extra["variant"] == "sd3_medium"
    assert not config.unet.qk_norm and config.unet.pos_embed_max_size == 192


def test_missing_joint_block_is_named():
    from core.models.detection import DetectionError, detect

    shapes = {k: v for k, v in _manifest("sd35_large")["keys"].items() if not k.startswith("joint_blocks.5.")}
    with pytest.raises(DetectionError, match=r"joint blocks \[5\] are missing"):
        detect(shapes, name="broken.safetensors")


def test_released_parameter_counts():
    # 8.1 billion (Large) and 2.5 billion (Medium) parameters, as Stability AI announces them
    for name, billions in (("sd35_large", 8.1), ("sd35_medium", 2.5)):
        params = sum(torch.Size(s).numel() for s in _manifest(name)["keys"].values())
        assert abs(params / 1e9 - billions) < 0.05, (name, params)
