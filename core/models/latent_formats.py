"""Latent spaces: the scale between raw VAE latents and the unit-variance space the U-Net samples in,
and a linear latent -> RGB map for cheap previews.

scale_factor: Rombach et al. 2022 §4.3.2 (1/std of the SD1 latents = 0.18215); SDXL's VAE is
retrained and uses 0.13025 (sgm config). The preview factors are least-squares fits of RGB from the
four latent channels (community-measured, the same numbers ComfyUI ships).

16-channel spaces (SD3's and FLUX.1's VAEs) also subtract a mean before scaling: the published
``scaling_factor``/``shift_factor`` of their VAE configs (SD3: 1.5305 / 0.0609, FLUX.1 ae: 0.3611 / 0.1159).
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
    shift_factor: float = 0.0

    def process_in(self, latent):
        """Raw VAE latent -> sampling space."""
        if self.shift_factor:
            return (latent - self.shift_factor) * self.scale_factor
        return latent * self.scale_factor

    def process_out(self, latent):
        """Sampling space -> raw VAE latent."""
        if self.shift_factor:
            return latent / self.scale_factor + self.shift_factor
        return latent / self.scale_factor

    def preview_rgb(self, latent):
        """[B, C, h, w] raw-or-scaled latent -> [B, h, w, 3] approximate RGB in 0..1 (previews only)."""
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

SD3 = LatentFormat(
    name="sd3",
    scale_factor=1.5305,
    shift_factor=0.0609,
    latent_channels=16,
    latent_rgb_factors=((-0.0922, -0.0175, 0.0749), (0.0311, 0.0633, 0.0954), (0.1994, 0.0927, 0.0458),
                        (0.0856, 0.0339, 0.0902), (0.0587, 0.0272, -0.0496), (-0.0006, 0.1104, 0.0309),
                        (0.0978, 0.0306, 0.0427), (-0.0042, 0.1038, 0.1358), (-0.0194, 0.0020, 0.0669),
                        (-0.0488, 0.0130, -0.0268), (0.0922, 0.0988, 0.0951), (-0.0278, 0.0524, -0.0542),
                        (0.0332, 0.0456, 0.0895), (-0.0069, -0.0030, -0.0810), (-0.0596, -0.0465, -0.0293),
                        (-0.1448, -0.1463, -0.1189)),
    latent_rgb_factors_bias=(0.2394, 0.2135, 0.1925),
)

FLUX = LatentFormat(
    name="flux",
    scale_factor=0.3611,
    shift_factor=0.1159,
    latent_channels=16,
    latent_rgb_factors=((-0.0346, 0.0244, 0.0681), (0.0034, 0.0210, 0.0687), (0.0275, -0.0668, -0.0433),
                        (-0.0174, 0.0160, 0.0617), (0.0859, 0.0721, 0.0329), (0.0004, 0.0383, 0.0115),
                        (0.0405, 0.0861, 0.0915), (-0.0236, -0.0185, -0.0259), (-0.0245, 0.0250, 0.1180),
                        (0.1008, 0.0755, -0.0421), (-0.0515, 0.0201, 0.0011), (0.0428, -0.0012, -0.0036),
                        (0.0817, 0.0765, 0.0749), (-0.1264, -0.0522, -0.1103), (-0.0280, -0.0881, -0.0499),
                        (-0.1262, -0.0982, -0.0778)),
    latent_rgb_factors_bias=(-0.0329, -0.0718, -0.0851),
)

FOR_FAMILY = {"sd1": SD15, "sd2": SD15, "sdxl": SDXL, "sdxl_refiner": SDXL, "sd3": SD3,
              "flux": FLUX, "flux_schnell": FLUX, "z_image": FLUX}


def for_family(family: str) -> LatentFormat:
    return FOR_FAMILY[family]
