"""Numerical equivalence with diffusers' UNet2DConditionModel and AutoencoderKL (an independent
implementation) given the same weights, converted with diffusers' own single-file key converters."""
from __future__ import annotations

import pytest
import torch

from core.models.checkpoint import load_checkpoint
from core.models.tiny import fill_random
from core.models.unet import UNetConfig, UNetModel
from core.sampling.guidance import sdxl_adm

diffusers = pytest.importorskip("diffusers")
from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint, convert_ldm_vae_checkpoint  # noqa: E402

PREFIX = "model.diffusion_model."


def diffusers_unet_config(cfg: UNetConfig) -> dict:
    """diffusers' constructor arguments for our config (written here, not derived from diffusers code)."""
    levels = len(cfg.channel_mult)
    channels = [cfg.model_channels * m for m in cfg.channel_mult]
    per_level = [cfg.transformer_depth[sum(cfg.num_res_blocks[:i])] for i in range(levels)]
    down = ["CrossAttnDownBlock2D" if d else "DownBlock2D" for d in per_level]
    heads = [cfg.heads_for(c)[0] for c in channels]
    config = dict(
        in_channels=cfg.in_channels, out_channels=cfg.out_channels, block_out_channels=channels,
        down_block_types=down, up_block_types=[b.replace("Down", "Up") for b in reversed(down)],
        layers_per_block=cfg.num_res_blocks[0], cross_attention_dim=cfg.context_dim,
        attention_head_dim=heads,  # diffusers' legacy name: this is the number of heads
        transformer_layers_per_block=[max(d, 1) for d in per_level],
        use_linear_projection=cfg.use_linear_in_transformer, norm_num_groups=32, flip_sin_to_cos=True, freq_shift=0,
    )
    if cfg.adm_in_channels:
        config.update(addition_embed_type="text_time", addition_time_embed_dim=256,
                      projection_class_embeddings_input_dim=cfg.adm_in_channels)
    return config


def diffusers_unet_from(unet: UNetModel, sd: dict, device="cpu"):
    from diffusers import UNet2DConditionModel

    config = diffusers_unet_config(unet.config)
    converted = convert_ldm_unet_checkpoint({PREFIX + k: v for k, v in sd.items()}, config)
    with torch.device("meta"):
        ref = UNet2DConditionModel(**config)
    ref.load_state_dict(converted, strict=True, assign=True)  # shares the tensors: no second copy
    return ref.eval()


def compare_unet(unet: UNetModel, batch: int, size: int, atol: float):
    gen = torch.Generator().manual_seed(1)
    cfg = unet.config
    ref = diffusers_unet_from(unet, unet.state_dict())
    x = torch.randn(batch, cfg.in_channels, size, size, generator=gen)
    t = torch.tensor([999.0, 17.0][:batch])
    ctx = torch.randn(batch, 77, cfg.context_dim, generator=gen)
    kwargs, y = {}, None
    if cfg.adm_in_channels:
        pooled = torch.randn(batch, cfg.adm_in_channels - 1536, generator=gen)
        sizes = (1024, 768, 16, 32, 1024, 896)  # diffusers' time_ids: original (h, w), crop (top, left), target (h, w)
        opts = dict(zip(("height", "width", "crop_h", "crop_w", "target_height", "target_width"), sizes))
        y = sdxl_adm({"pooled_output": pooled, **opts}, cfg.adm_in_channels, (size, size), batch)
        kwargs["added_cond_kwargs"] = {"text_embeds": pooled, "time_ids": torch.tensor([sizes] * batch, dtype=torch.float32)}
    with torch.inference_mode():
        ours = unet(x, t, ctx, y)
        theirs = ref(x, t, encoder_hidden_states=ctx, **kwargs).sample
    assert ours.abs().max() > 1e-3  # not trivially zero
    torch.testing.assert_close(ours, theirs, atol=atol, rtol=0)


@pytest.mark.parametrize("family", ["sd15", "sd21v", "sdxl", "sd15_inpaint"])
def test_tiny_unet_matches_diffusers(tiny_checkpoint, cpu_fp32, family):
    model, _, _ = load_checkpoint(tiny_checkpoint(family), output_clip=False, output_vae=False)
    compare_unet(model.unet, batch=2, size=16, atol=1e-4)


def test_odd_latent_size_matches_diffusers(tiny_checkpoint, cpu_fp32):
    model, _, _ = load_checkpoint(tiny_checkpoint("sd15"), output_clip=False, output_vae=False)
    compare_unet(model.unet, batch=1, size=13, atol=1e-4)


def test_tiny_vae_matches_diffusers(tiny_checkpoint, cpu_fp32):
    from diffusers import AutoencoderKL

    _, _, vae = load_checkpoint(tiny_checkpoint("sd15"), output_clip=False)
    cfg = vae.vae.config
    config = dict(in_channels=3, out_channels=3, latent_channels=cfg.z_channels, norm_num_groups=32,
                  block_out_channels=[cfg.ch * m for m in cfg.ch_mult], layers_per_block=cfg.num_res_blocks,
                  down_block_types=["DownEncoderBlock2D"] * len(cfg.ch_mult),
                  up_block_types=["UpDecoderBlock2D"] * len(cfg.ch_mult))
    converted = convert_ldm_vae_checkpoint({"first_stage_model." + k: v for k, v in vae.vae.state_dict().items()}, config)
    ref = AutoencoderKL(**config)
    ref.load_state_dict(converted, strict=True)
    ref.eval()
    gen = torch.Generator().manual_seed(2)
    x = torch.rand(2, 3, 48, 40, generator=gen) * 2 - 1
    z = torch.randn(2, 4, 6, 5, generator=gen)
    with torch.inference_mode():
        torch.testing.assert_close(vae.vae.encode(x), ref.encode(x).latent_dist.mean, atol=1e-4, rtol=0)
        torch.testing.assert_close(vae.vae.decode(z), ref.decode(z).sample, atol=1e-4, rtol=0)


def random_full_size_unet(cfg: UNetConfig, seed: int = 0) -> UNetModel:
    with torch.device("meta"):
        unet = UNetModel(cfg)
    return fill_random(unet, seed)


@pytest.mark.slow  # ~30-70 s on a shared 2-core machine
def test_full_size_sd15_unet_matches_diffusers(cpu_fp32, manifest):
    """One forward of the real-size SD1.5 U-Net (random weights shared with diffusers, ~3.4 GB)."""
    from core.models.detection import detect

    cfg = detect(manifest("sd15")["keys"]).unet
    unet = random_full_size_unet(cfg)
    compare_unet(unet, batch=1, size=16, atol=1e-4)
