"""Live previews while sampling: the denoised latent through the model's linear latent -> RGB map.

"latent2rgb" (and "auto", and "taesd" until a TAESD decoder is wired in) multiply the four latent
channels by ``latent_format.latent_rgb_factors``; "none" sends nothing. The image is capped at
``MAX_PREVIEW`` pixels on its long side (ComfyUI's --preview-size default).
"""
from __future__ import annotations

import logging

log = logging.getLogger(__name__)

MAX_PREVIEW = 512


def latent_to_image(latent_format, denoised):
    """[B, 4, h, w] sampling-space latent -> PIL image of the first batch item."""
    import numpy as np
    from PIL import Image

    if not latent_format.latent_rgb_factors:
        return None
    rgb = latent_format.preview_rgb(denoised[:1].float().cpu())[0]  # [h, w, 3] in 0..1
    image = Image.fromarray((rgb.numpy() * 255).round().astype(np.uint8))
    if max(image.size) > MAX_PREVIEW:
        image.thumbnail((MAX_PREVIEW, MAX_PREVIEW))
    return image


def make_previewer(latent_format):
    """A ``denoised -> PIL image | None`` function for the current job's preview method, or None."""
    from core.execution import progress

    method = progress.preview_method()
    if method in (None, "none"):
        return None
    if method == "taesd":
        log.debug("TAESD previews are not available; using latent2rgb")
    return lambda denoised: latent_to_image(latent_format, denoised)
