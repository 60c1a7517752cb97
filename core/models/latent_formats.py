"""Latent spaces: the scale between raw VAE latents and the unit-variance space the U-Net samples in,
and a linear latent -> RGB map for cheap previews.

scale_factor: Rombach et al. 2022 §4.3.2 (1/std of the SD1 latents = 0.18215); SDXL's VAE is
retrained and uses 0.13025 (sgm config). The preview factors are least-squares fits of RGB from the
four latent channels (community-measured, the same numbers ComfyUI ships).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LatentFormat:
    name: str
    scale_factor: float
    latent_channels: int = 4
    latent_rgb_factors: tuple = ()  # [latent_channels][3]
    latent_rgb_factors_bias: tuple | None = None

    def process_in(self, latent):
        """Raw VAE latent -> sampling space."""
        return latent * self.scale_factor

    def process_out(self, latent):
        """Sampling space -> raw VAE latent."""
        return latent / self.scale_factor

    def preview_rgb(self, latent):
        """[B, 4, h, w] raw-or-scaled latent -> [B, h, w, 3] approximate RGB in 0..1 (previews only)."""
        import torch

        factors = torch.tensor(self.latent_rgb_factors, dtype=latent.dtype, device=latent.device)  # [4, 3]
        rgb = torch.einsum("bchw,cr->bhwr", latent, factors)
        if self.latent_rgb_factors_bias:
            rgb = rgb + torch.tensor(self.latent_rgb_factors_bias, dtype=latent.dtype, device=latent.device)
        return ((rgb + 1) / 2).clamp(0, 1)


SD15 = LatentFormat(
    name="sd15",
    scale_factor=0.18215,
    latent_rgb_factors=((0.3512, 0.2297, 0.3227), (0.3250, 0.4974, 0.2350),
                        (-0.2829, 0.1762, 0.2721), (-0.2120, -0.2616, -0.7177)),
)

SDXL = LatentFormat(
    name="sdxl",
    scale_factor=0.13025,
    latent_rgb_factors=((0.3651, 0.4232, 0.4341), (-0.2533, -0.0042, 0.1068),
                        (0.1076, 0.1111, -0.0362), (-0.3165, -0.2492, -0.2188)),
    latent_rgb_factors_bias=(0.1084, -0.0175, -0.0011),
)

FOR_FAMILY = {"sd1": SD15, "sd2": SD15, "sdxl": SDXL, "sdxl_refiner": SDXL}


def for_family(family: str) -> LatentFormat:
    return FOR_FAMILY[family]
