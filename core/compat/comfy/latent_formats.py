"""ComfyUI's ``comfy.latent_formats``: ``SD15``, ``SDXL``, ``SD3``, ``Flux`` … (our core.models.latent_formats
values) as the classes plugins instantiate."""
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


def _from(ours, name: str, base=LatentFormat, **extra) -> type:
    """A ComfyUI-style class over one of our formats: same attributes, and process_in/process_out are
    ours (so shifted 16-channel spaces and per-channel normalisations come out exactly as sampling uses them)."""
    attrs = {"scale_factor": ours.scale_factor, "latent_channels": ours.latent_channels,
             "shift_factor": getattr(ours, "shift_factor", 0.0),
             "latent_rgb_factors": [list(r) for r in ours.latent_rgb_factors] or None,
             "latent_rgb_factors_bias": list(ours.latent_rgb_factors_bias) if ours.latent_rgb_factors_bias else None,
             "process_in": lambda self, latent: ours.process_in(latent),
             "process_out": lambda self, latent: ours.process_out(latent), **extra}
    return type(name, (base,), attrs)


SD15 = _from(_ours.SD15, "SD15", taesd_decoder_name="taesd_decoder")
SDXL = _from(_ours.SDXL, "SDXL", taesd_decoder_name="taesdxl_decoder")
SDXL_Playground_2_5 = type("SDXL_Playground_2_5", (SDXL,), {})
SD3 = _from(_ours.SD3, "SD3", taesd_decoder_name="taesd3_decoder")
Flux = _from(_ours.FLUX, "Flux", SD3, taesd_decoder_name="taef1_decoder")

__getattr__ = module_getattr(__name__)
