"""Helpers of the FLUX.1 tests: tiny seeded transformers (Kontext, Fill), their diffusers twins, handles
and a stand-in VAE."""
from __future__ import annotations

import torch

from tests.dit.flow_toys import tiny_flux, tiny_flux_config  # noqa: F401  (re-exported)
from tests.dit.flux_diffusers_keys import bfl_to_diffusers


def diffusers_twin(ours, config):
    """diffusers' FluxTransformer2DModel holding the same weights as our tiny ``ours``."""
    from diffusers import FluxTransformer2DModel

    ref = FluxTransformer2DModel(
        patch_size=1, in_channels=config.in_channels, out_channels=config.out_channels,
        num_layers=config.depth, num_single_layers=config.depth_single_blocks,
        attention_head_dim=config.hidden_size // config.num_heads, num_attention_heads=config.num_heads,
        joint_attention_dim=config.context_in_dim, pooled_projection_dim=config.vec_in_dim,
        guidance_embeds=config.guidance_embed, axes_dims_rope=tuple(config.axes_dim))
    sd = bfl_to_diffusers(dict(ours.state_dict()), config.depth, config.depth_single_blocks, config.hidden_size)
    ref.load_state_dict(sd, strict=True)
    return ref.eval()


def flux_handle(net, config, name: str = "tiny-flux"):
    """A MODEL of ``net`` as UNETLoader would make it (detection of its own state dict)."""
    from core.models.detection import detect
    from core.models.handles import ModelHandle
    from core.models.latent_formats import for_family
    from core.sampling.model_sampling import default_for_family

    cfg = detect(dict(net.state_dict()), name=name)
    assert cfg.unet == config
    handle = ModelHandle(net, cfg, for_family(cfg.family), name=name)
    handle.model_sampling = default_for_family(cfg.family)
    return handle


def flux_conditioning(tokens: int = 4, guidance=None, seed: int = 0, width: int = 20, pooled: int = 12):
    g = torch.Generator().manual_seed(seed)
    opts = {"pooled_output": torch.randn(1, pooled, generator=g)}
    if guidance is not None:
        opts["guidance"] = guidance
    return [[torch.randn(1, tokens, width, generator=g), opts]]


class StandInVae:
    """VAE stand-in for conditioning nodes: a fixed, position-dependent map of each 8x8 pixel block to
    16 latent channels (what InpaintModelConditioning needs from a VAE is ``encode``)."""

    def __init__(self, channels: int = 16, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        self.proj = torch.randn(channels, 3 * 64, generator=g) * 0.2
        self.calls: list = []

    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        self.calls.append(pixels.clone())
        B, H, W, C = pixels.shape
        dy, dx = (H % 8) // 2, (W % 8) // 2  # VAEs centre-crop to whole 8x8 blocks
        H, W = H // 8 * 8, W // 8 * 8
        pixels = pixels[:, dy:dy + H, dx:dx + W]
        blocks = pixels.reshape(B, H // 8, 8, W // 8, 8, C).permute(0, 1, 3, 5, 2, 4).reshape(B, H // 8, W // 8, -1)
        return (blocks @ self.proj.T).permute(0, 3, 1, 2).contiguous()
