"""VAELoader and CheckpointLoaderSimple with 16-channel VAEs: ae.safetensors in the vae folder, and
FLUX-style single files bundling the transformer with the VAE under ``vae.``."""
from __future__ import annotations

from pathlib import Path

import torch

from core.models.tiny import TINY_VAE16, tiny_vae16_state_dict, write_tiny_vae16
from core.models.weights import save_safetensors


def tiny_flux_state_dict(prefix: str = "model.diffusion_model.") -> dict:
    from core.models.building import on_meta
    from core.models.flux import Flux, FluxConfig
    from core.models.tiny import fill_random

    cfg = FluxConfig(vec_in_dim=12, context_in_dim=20, hidden_size=64, num_heads=2, depth=1, depth_single_blocks=1,
                     axes_dim=(4, 14, 14))
    return {prefix + k: v for k, v in fill_random(on_meta(lambda: Flux(cfg))).state_dict().items()}


def test_vae_loader_loads_ae_safetensors_with_16_channels(folders, cpu_fp32):
    from nodes.loaders import VAELoader
    from nodes.vae import VAEDecode, VAEEncode

    write_tiny_vae16(Path(folders.folder_paths("vae")[0]) / "ae.safetensors")
    (vae,) = VAELoader().execute("ae.safetensors")
    assert vae.latent_channels == 16 and not vae.vae.config.use_quant_conv
    (image,) = VAEDecode().execute(vae, {"samples": torch.randn(1, 16, 4, 5)})
    assert image.shape == (1, 32, 40, 3)
    (latent,) = VAEEncode().execute(vae, image)
    assert latent["samples"].shape == (1, 16, 4, 5)


def test_flux_bundle_with_vae_prefix_gives_model_and_16_channel_vae(tmp_path, cpu_fp32):
    from core.models.checkpoint import load_checkpoint

    sd = tiny_flux_state_dict()
    sd.update(tiny_vae16_state_dict(seed=1, prefix="vae."))
    model, clip, vae = load_checkpoint(save_safetensors(sd, tmp_path / "flux1-tiny.safetensors"))
    assert model.config.family == "flux" and model.latent_format.latent_channels == 16
    assert clip is None  # no text encoders in this bundle
    assert vae.latent_channels == 16
    for key, value in vae.vae.state_dict().items():
        torch.testing.assert_close(value, sd["vae." + key], atol=0, rtol=0)


def test_sd3_style_bundle_reads_the_16_channel_vae_under_first_stage_model(tmp_path, cpu_fp32):
    from core.models.checkpoint import load_vae

    path = save_safetensors(tiny_vae16_state_dict(seed=4, prefix="first_stage_model."), tmp_path / "sd35.safetensors")
    vae = load_vae(path)
    assert vae.vae.config == TINY_VAE16


def test_sd35_checkpoint_gives_its_16_channel_vae(tmp_path, cpu_fp32):
    from core.models.checkpoint import load_checkpoint
    from core.models.tiny import write_tiny_sd3

    model, _clip, vae = load_checkpoint(write_tiny_sd3(tmp_path / "sd3.5_tiny.safetensors"), output_clip=False)
    assert model.config.family == "sd3" and vae.latent_channels == 16 and not vae.vae.config.use_quant_conv
    assert vae.decode(torch.randn(1, 16, 4, 4)).shape == (1, 32, 32, 3)
