"""ComfyUI's ``comfy.latent_formats``: ``SD15``, ``SDXL`` (our core.models.latent_formats values) as classes."""
from __future__ import annotations

from core.compat.missing import module_getattr
from core.models import latent_formats as _ours


class LatentFormat:
    """Base: ``process_in``/``process_out`` scale by ``scale_factor`` (ComfyUI's class attributes)."""

    scale_factor = 1.0
    latent_channels = 4
    latent_dimensions = 2
    latent_rgb_factors = None
    latent_rgb_factors_bias = None
    taesd_decoder_name = None

    def process_in(self, latent):
        return latent * self.scale_factor

    def process_out(self, latent):
        return latent / self.scale_factor


def _from(ours):
    return {"scale_factor": ours.scale_factor, "latent_channels": ours.latent_channels,
            "latent_rgb_factors": [list(r) for r in ours.latent_rgb_factors],
            "latent_rgb_factors_bias": list(ours.latent_rgb_factors_bias) if ours.latent_rgb_factors_bias else None}


SD15 = type("SD15", (LatentFormat,), {**_from(_ours.SD15), "taesd_decoder_name": "taesd_decoder"})
SDXL = type("SDXL", (LatentFormat,), {**_from(_ours.SDXL), "taesd_decoder_name": "taesdxl_decoder"})
SDXL_Playground_2_5 = type("SDXL_Playground_2_5", (SDXL,), {})

__getattr__ = module_getattr(__name__)
