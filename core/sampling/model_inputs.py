"""Network inputs that a conditioning entry carries beside its text: reference latents and concat channels.

ComfyUI nodes put them in the entry's options; each entry's are built once before the step loop and
handed to the network as keyword arguments for that entry's batch (core/sampling/guidance.py):

- ``reference_latents`` (ReferenceLatent; a list of raw VAE latents) -> ``ref_latents``: the latents in
  the model's latent space, for networks whose ``forward`` takes ``ref_latents`` (FLUX.1 Kontext and the
  other edit models); ``reference_latents_method`` -> ``ref_latents_method`` likewise.
- ``concat_latent_image`` / ``concat_mask`` (InpaintModelConditioning) -> ``concat``: the channels
  concatenated to the noisy latent, for models with extra input channels: SD inpainting U-Nets
  ([mask, masked-image latent], 5 channels) and FLUX.1 Fill/Canny/Depth (core/models/flux_fill.py).
"""
from __future__ import annotations

import inspect

import torch

from core.images import resize_nchw


def _to_batch(t: torch.Tensor, batch: int) -> torch.Tensor:
    if t.shape[0] == batch:
        return t
    return t.repeat(-(-batch // t.shape[0]), *([1] * (t.ndim - 1)))[:batch]


def _takes(net, name: str) -> bool:
    """Does the network's forward name this input? (A ``**kwargs`` catch-all is not taking it: such
    networks ignore what they do not know.)"""
    try:
        return name in inspect.signature(net.forward).parameters
    except (TypeError, ValueError):
        return False


def _flux_extra_channels(model) -> int:
    flux = getattr(model.config, "extra", {}).get("flux")
    if flux is None:
        return 0
    from core.models.flux_fill import extra_channels

    return extra_channels(flux)


def sd_inpaint_concat(latent_format, shape, image=None, mask=None, latent_in=None, denoise_mask=None):
    """[B, 5, h, w] of an SD inpainting U-Net: the rounded mask at latent size, then the masked image's
    latent (raw, brought into model space here); without them the latent being sampled and its noise mask."""
    B, _, h, w = shape
    if image is not None:
        image = _to_batch(latent_format.process_in(resize_nchw(image.float(), w, h, "bilinear", "center")), B)
    else:
        image = latent_in if latent_in is not None else torch.zeros(shape)
    if mask is None:
        mask = denoise_mask if denoise_mask is not None else torch.ones(B, 1, h, w)
    mask = mask.float()
    mask = mask.reshape(-1, 1, *mask.shape[-2:]) if mask.ndim < 4 else mask[:, :1]
    mask = _to_batch(resize_nchw(mask, w, h, "bilinear", "center").round(), B)
    return torch.cat([mask.to(image.device), image], dim=1)


def entry_inputs(model, shape, *, latent_in=None, denoise_mask=None, device=None, dtype=None):
    """``build(opts, batch) -> {keyword: value}`` giving each entry's extra network inputs, or None when
    this model takes none. ``shape``: the latent batch being sampled; ``latent_in`` it in model space;
    ``denoise_mask`` its noise mask at latent size, the fallback of a missing ``concat_mask``."""
    net = model.unet
    takes_refs = _takes(net, "ref_latents")
    fill = _flux_extra_channels(model)
    sd_inpaint = getattr(model.config, "in_channels", 4) == 9
    if not (takes_refs or fill or sd_inpaint):
        return None
    fmt = model.latent_format

    def build(opts: dict, batch: int) -> dict:
        out = {}
        refs = opts.get("reference_latents")
        if refs and takes_refs:
            out["ref_latents"] = [_to_batch(fmt.process_in(r.float()), batch).to(device, dtype) for r in refs]
            if opts.get("reference_latents_method") is not None:
                out["ref_latents_method"] = opts["reference_latents_method"]
        image, mask = opts.get("concat_latent_image"), opts.get("concat_mask")
        if fill:
            from core.models.flux_fill import concat_input

            out["concat"] = concat_input(fill, fmt, shape, image, mask, denoise_mask).to(device, dtype)
        elif sd_inpaint and (image is not None or mask is not None):
            out["concat"] = sd_inpaint_concat(fmt, shape, image, mask, latent_in, denoise_mask).to(device, dtype)
        return out

    return build
