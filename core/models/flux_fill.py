"""FLUX.1 Fill / Canny / Depth: transformers whose input takes extra channels beside the noisy latent.

Fill [dev] (inpainting and outpainting) has ``img_in`` of 384 inputs: after 2x2 patchifying, 64 for
the noisy latent, 64 for the latent of the masked image (16 channels) and 256 for the mask, which is
kept at the pixel resolution by folding each 8x8 pixel block into 64 channels at one latent pixel
(diffusers' FluxFillPipeline.prepare_mask_latents: channel = 8 * row-in-block + column-in-block).
Canny/Depth [dev] take 128: the noisy latent and the latent of the control image.

The extra channels are concatenated to the noisy latent before patchifying (core/sampling/denoiser.py),
so the token layout is [latent | image latent | mask] per patch, as FluxFillPipeline's
``torch.cat((latents, masked_image_latents, mask), dim=2)``.
"""
from __future__ import annotations

import torch

from core.images import resize_nchw

MASK_BLOCK = 8  # the VAE's downscale factor: mask pixels per latent pixel along each side


def extra_channels(config) -> int:
    """Latent channels concatenated to the noisy latent: 80 (Fill), 16 (Canny/Depth) or 0."""
    p2 = config.patch_size * config.patch_size
    return (config.in_channels - config.out_channels) // p2


def _to_batch(t: torch.Tensor, batch: int) -> torch.Tensor:
    if t.shape[0] == batch:
        return t
    return t.repeat(-(-batch // t.shape[0]), *([1] * (t.ndim - 1)))[:batch]


def pack_mask(mask: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Mask [B, 1 or C, H, W] (pixels; channels averaged) -> [B, 64, h, w], each latent pixel holding
    its 8x8 block of mask pixels. The mask is first resized to exactly (8h, 8w)."""
    mask = mask.float()
    if mask.ndim < 4:  # [H, W] or [B, H, W]
        mask = mask.reshape(-1, 1, *mask.shape[-2:])
    mask = mask.mean(dim=1, keepdim=True)
    mask = resize_nchw(mask, w * MASK_BLOCK, h * MASK_BLOCK, "bilinear", "center")
    B = mask.shape[0]
    # [B, 1, h*8, w*8] -> [B, h, 8, w, 8] -> [B, 8, 8, h, w] -> [B, 64, h, w]
    blocks = mask.reshape(B, h, MASK_BLOCK, w, MASK_BLOCK).permute(0, 2, 4, 1, 3)
    return blocks.reshape(B, MASK_BLOCK * MASK_BLOCK, h, w)


def concat_input(channels: int, latent_format, shape, image=None, mask=None, denoise_mask=None) -> torch.Tensor:
    """The extra input channels [B, channels, h, w] of a Fill (80) or Canny/Depth (16) model.

    ``image``: raw VAE latent of the masked (or control) image, brought into the model's latent space
    here; absent, a zero latent is used as ComfyUI does. ``mask``: pixel mask (1 = repaint), else the
    latent's ``denoise_mask`` [B, 1, h, w], else all ones (repaint everything).
    """
    B, C, h, w = shape
    if image is None:
        image = torch.zeros(shape)
    image = resize_nchw(image.float(), w, h, "bilinear", "center")
    image = _to_batch(latent_format.process_in(image), B)
    if channels == C:
        return image
    if channels != C + MASK_BLOCK * MASK_BLOCK:
        raise ValueError(f"FLUX: {channels} extra input channels is neither a control image ({C}) nor an "
                         f"inpainting image and mask ({C + MASK_BLOCK * MASK_BLOCK})")
    if mask is None:
        mask = denoise_mask if denoise_mask is not None else torch.ones(B, 1, h, w)
    return torch.cat([image, _to_batch(pack_mask(mask.to(image.device), h, w), B)], dim=1)
