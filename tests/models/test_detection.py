"""Detection: family, prediction type and hyperparameters from keys and shapes."""
from __future__ import annotations

import pytest
import torch

from core.models import detection


def test_sd15_manifest_is_sd1_eps_with_8_heads(manifest):
    cfg = detection.detect(manifest("sd15")["keys"])
    ref = manifest("sd15")["config"]["unet"]
    assert (cfg.family, cfg.prediction) == ("sd1", "eps")
    assert cfg.unet.model_channels == ref["model_channels"]
    assert cfg.unet.channel_mult == tuple(ref["channel_mult"])
    assert cfg.unet.num_res_blocks == (ref["num_res_blocks"],) * 4
    assert cfg.unet.context_dim == ref["context_dim"]
    assert (cfg.unet.num_heads, cfg.unet.num_head_channels) == (8, -1)
    assert cfg.unet.use_linear_in_transformer is False
    assert cfg.unet.adm_in_channels is None
    assert cfg.text_encoders == ("clip_l",)


def test_sd21_manifest_is_sd2_with_linear_projections_and_64_channel_heads(manifest):
    m = manifest("sd21_768v")
    cfg = detection.detect(m["keys"])
    assert cfg.family == "sd2"
    assert cfg.unet.context_dim == m["config"]["unet"]["context_dim"] == 1024
    assert cfg.unet.num_head_channels == m["config"]["unet"]["num_head_channels"]
    assert cfg.unet.use_linear_in_transformer is True
    assert cfg.text_encoders == ("openclip_h",)


def test_sdxl_manifest_is_sdxl_with_per_level_transformer_depths(manifest):
    m = manifest("sdxl_base_1.0")
    ref = m["config"]["unet"]
    cfg = detection.detect(m["keys"])
    assert cfg.family == "sdxl"
    assert cfg.unet.channel_mult == tuple(ref["channel_mult"])
    assert cfg.unet.adm_in_channels == ref["adm_in_channels"]
    assert cfg.unet.context_dim == ref["context_dim"]
    # per input ResBlock: level depths [1, 2, 10] minus the attention-free first level
    assert cfg.unet.transformer_depth == (0, 0, 2, 2, 10, 10)
    assert cfg.unet.transformer_depth_middle == 10
    assert cfg.unet.transformer_depth_output == (10, 10, 10, 2, 2, 2, 0, 0, 0)
    assert cfg.text_encoders == ("clip_l", "openclip_g")


def test_vae_config_from_manifest(manifest):
    m = manifest("sd15")
    vae = detection.detect_vae_config(m["keys"])
    ref = m["config"]["vae"]
    assert (vae.ch, vae.ch_mult, vae.num_res_blocks, vae.z_channels, vae.embed_dim) == \
        (ref["ch"], tuple(ref["ch_mult"]), ref["num_res_blocks"], ref["z_channels"], ref["embed_dim"])


@pytest.mark.parametrize("family, expected", [("sd15", ("sd1", "eps", 4)), ("sd21v", ("sd2", "v", 4)),
                                              ("sdxl", ("sdxl", "eps", 4)), ("sd15_inpaint", ("sd1", "eps", 9))])
def test_tiny_checkpoints_are_detected(tiny_checkpoint, family, expected):
    from core.models.weights import load_file

    sd, metadata = load_file(tiny_checkpoint(family))
    cfg = detection.detect(sd, metadata)
    assert (cfg.family, cfg.prediction, cfg.in_channels) == expected
    assert cfg.unet.model_channels == 32 and cfg.unet.channel_mult == (1, 2)


def test_sd2_without_hints_uses_the_output_norm_statistic(tiny_checkpoint):
    from core.models.weights import load_file

    sd, _ = load_file(tiny_checkpoint("sd21v"))  # no metadata passed: only the weights decide
    assert detection.detect(sd).prediction == "v"
    key = "model.diffusion_model.output_blocks.3.1.transformer_blocks.0.norm1.bias"
    sd = dict(sd, **{key: torch.zeros_like(sd[key])})
    assert detection.detect(sd).prediction == "eps"


def test_sd2_metadata_hint_wins_over_the_statistic(tiny_checkpoint):
    from core.models.weights import load_file

    sd, _ = load_file(tiny_checkpoint("sd21v"))
    assert detection.detect(sd, {"modelspec.prediction_type": "epsilon"}).prediction == "eps"


def test_sd2_yaml_beside_the_file_decides(tiny_checkpoint, tmp_path):
    from core.models.weights import load_file

    sd, _ = load_file(tiny_checkpoint("sd21v"))
    key = "model.diffusion_model.output_blocks.3.1.transformer_blocks.0.norm1.bias"
    sd = dict(sd, **{key: torch.zeros_like(sd[key])})
    ckpt = tmp_path / "model.safetensors"
    (tmp_path / "model.yaml").write_text("model:\n  params:\n    parameterization: \"v\"\n")
    assert detection.detect(sd, path=ckpt).prediction == "v"


def test_unknown_state_dict_error_says_what_was_found():
    sd = {"encoder.weight": torch.zeros(2), "decoder.weight": torch.zeros(2)}
    with pytest.raises(detection.DetectionError, match=r"no Stable Diffusion U-Net.*2 tensors.*encoder.weight"):
        detection.detect(sd, name="mystery.safetensors")


def test_unsupported_unet_variant_names_its_hyperparameters(manifest):
    keys = dict(manifest("sd15")["keys"])
    keys["model.diffusion_model.label_emb.0.0.weight"] = [1280, 1536]  # an SD1.x U-Net with a vector input
    with pytest.raises(detection.DetectionError, match=r"context_dim=768, adm_in_channels=1536"):
        detection.detect(keys)
