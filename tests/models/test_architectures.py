"""Full-size U-Net and VAE built on the meta device have exactly the released checkpoints' keys and shapes."""
from __future__ import annotations

import pytest
import torch

MANIFESTS = ["sd15", "sd21_768v", "sdxl_base_1.0"]


def unet_config_from_manifest(cfg: dict):
    """Our config from the original yaml hyperparameters (independent of detection.py)."""
    from core.models.unet import UNetConfig

    levels = len(cfg["channel_mult"])
    depth = cfg["transformer_depth"]
    depth = depth if isinstance(depth, list) else [depth] * levels
    # attention_resolutions are downsampling factors 1, 2, 4 ...: level i has factor 2**i
    per_level = [depth[i] if 2 ** i in cfg["attention_resolutions"] else 0 for i in range(levels)]
    return UNetConfig.from_levels(
        channel_mult=tuple(cfg["channel_mult"]), num_res_blocks=cfg["num_res_blocks"], depth_per_level=per_level,
        depth_middle=depth[-1], in_channels=cfg["in_channels"], out_channels=cfg["out_channels"],
        model_channels=cfg["model_channels"], context_dim=cfg["context_dim"], num_heads=cfg.get("num_heads", -1),
        num_head_channels=cfg.get("num_head_channels", -1), use_linear_in_transformer=cfg["use_linear_in_transformer"],
        adm_in_channels=cfg.get("adm_in_channels"))


def shapes(module: torch.nn.Module, prefix: str) -> dict:
    return {prefix + k: list(v.shape) for k, v in module.state_dict().items()}


def manifest_part(manifest: dict, prefix: str) -> dict:
    return {k: v for k, v in manifest["keys"].items() if k.startswith(prefix)}


@pytest.mark.parametrize("name", MANIFESTS)
def test_unet_state_dict_equals_manifest(name, manifest):
    from core.models.unet import UNetModel

    manifest = manifest(name)
    with torch.device("meta"):
        unet = UNetModel(unet_config_from_manifest(manifest["config"]["unet"]))
    assert shapes(unet, "model.diffusion_model.") == manifest_part(manifest, "model.diffusion_model.")


@pytest.mark.parametrize("name", MANIFESTS)
def test_unet_parameter_count_equals_manifest(name, manifest):
    from core.models.unet import UNetModel

    manifest = manifest(name)
    with torch.device("meta"):
        unet = UNetModel(unet_config_from_manifest(manifest["config"]["unet"]))
    assert sum(p.numel() for p in unet.parameters()) == manifest["components"]["unet"]["params"]


@pytest.mark.parametrize("name", MANIFESTS)
def test_vae_state_dict_equals_manifest(name, manifest):
    from core.models.vae import AutoencoderKL

    manifest = manifest(name)
    with torch.device("meta"):
        vae = AutoencoderKL()
    assert shapes(vae, "first_stage_model.") == manifest_part(manifest, "first_stage_model.")
    assert sum(p.numel() for p in vae.parameters()) == manifest["components"]["vae"]["params"]
