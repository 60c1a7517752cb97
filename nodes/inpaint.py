"""Inpainting (docs/comfy-api.md §6): SetLatentNoiseMask, VAEEncodeForInpaint and InpaintModelConditioning."""
from __future__ import annotations

from core.execution.spec import Boolean, In, Int, Node, Output


class SetLatentNoiseMask(Node):
    CATEGORY = "latent/inpaint"
    COMFY_FUNCTION = "set_mask"
    DISPLAY_NAME = "Set Latent Noise Mask"
    INPUTS = (In("LATENT", "samples"), In("MASK", "mask"))
    OUTPUTS = (Output("LATENT"),)

    def execute(self, samples, mask):
        if not isinstance(samples, dict) or "samples" not in samples:
            raise ValueError("SetLatentNoiseMask, input 'samples': expected a LATENT dict with 'samples'")
        out = dict(samples)
        out["noise_mask"] = mask.reshape(-1, 1, mask.shape[-2], mask.shape[-1])
        return (out,)


class VAEEncodeForInpaint(Node):
    CATEGORY = "latent/inpaint"
    COMFY_FUNCTION = "encode"
    DISPLAY_NAME = "VAE Encode (for Inpainting)"
    INPUTS = (In("IMAGE", "pixels"), In("VAE", "vae"), In("MASK", "mask"),
              Int("grow_mask_by", default=6, min=0, max=64, step=1))
    OUTPUTS = (Output("LATENT"),)

    def execute(self, vae, pixels, mask, grow_mask_by=6):
        import math

        import torch
        import torch.nn.functional as F

        if vae is None:
            raise ValueError("VAEEncodeForInpaint, input 'vae': no VAE")
        H, W = (pixels.shape[1] // 8) * 8, (pixels.shape[2] // 8) * 8
        mask = F.interpolate(mask.reshape(-1, 1, mask.shape[-2], mask.shape[-1]).float(),
                             size=(pixels.shape[1], pixels.shape[2]), mode="bilinear")
        pixels = pixels.clone()
        if (pixels.shape[1], pixels.shape[2]) != (H, W):  # centre-crop to a multiple of 8
            dy, dx = (pixels.shape[1] % 8) // 2, (pixels.shape[2] % 8) // 2
            pixels = pixels[:, dy:dy + H, dx:dx + W]
            mask = mask[:, :, dy:dy + H, dx:dx + W]
        hard = mask.round()
        if grow_mask_by > 0:  # dilate so the repainted region's seam falls inside the noise mask
            kernel = torch.ones(1, 1, grow_mask_by, grow_mask_by)
            grown = F.conv2d(hard, kernel, padding=math.ceil((grow_mask_by - 1) / 2)).clamp(0, 1)[:, :, :H, :W]
        else:
            grown = hard
        keep = (1 - hard).squeeze(1).unsqueeze(-1)  # [B, H, W, 1]
        pixels = (pixels - 0.5) * keep + 0.5  # masked pixels become mid grey before encoding
        return ({"samples": vae.encode(pixels), "noise_mask": grown.round()},)


class InpaintModelConditioning(Node):
    """For models that take the masked image as input (SD inpainting U-Nets, FLUX.1 Fill): the masked
    image's latent and the mask go on both conditionings (``concat_latent_image``, ``concat_mask``; used by
    core/sampling/model_inputs.py), and the latent to sample is the whole image's, so the model sees what
    is around the hole while the noise mask (optional) keeps the rest."""

    CATEGORY = "conditioning/inpaint"
    COMFY_FUNCTION = "encode"
    INPUTS = (In("CONDITIONING", "positive"), In("CONDITIONING", "negative"), In("VAE", "vae"),
              In("IMAGE", "pixels"), In("MASK", "mask"),
              Boolean("noise_mask", default=True,
                      tooltip="Add a noise mask to the latent so sampling will only happen within the mask. "
                              "Might improve results or completely break things depending on the model."))
    OUTPUTS = (Output("CONDITIONING", "positive"), Output("CONDITIONING", "negative"), Output("LATENT", "latent"))

    def execute(self, positive, negative, pixels, vae, mask, noise_mask=True):  # ComfyUI's parameter order
        import torch.nn.functional as F

        if vae is None:
            raise ValueError("InpaintModelConditioning, input 'vae': no VAE")
        if mask.shape[-2] < 1 or mask.shape[-1] < 1:
            raise ValueError("InpaintModelConditioning, input 'mask': empty mask")
        H, W = (pixels.shape[1] // 8) * 8, (pixels.shape[2] // 8) * 8
        if H == 0 or W == 0:
            raise ValueError(f"InpaintModelConditioning, input 'pixels': {pixels.shape[2]}x{pixels.shape[1]} is "
                             "smaller than one latent pixel (8x8)")
        mask = F.interpolate(mask.reshape(-1, 1, mask.shape[-2], mask.shape[-1]).float(),
                             size=(pixels.shape[1], pixels.shape[2]), mode="bilinear")
        masked = pixels.clone()
        if (pixels.shape[1], pixels.shape[2]) != (H, W):  # centre-crop to a multiple of 8
            dy, dx = (pixels.shape[1] % 8) // 2, (pixels.shape[2] % 8) // 2
            masked = masked[:, dy:dy + H, dx:dx + W]
            mask = mask[:, :, dy:dy + H, dx:dx + W]
        keep = (1 - mask.round()).squeeze(1).unsqueeze(-1)  # [B, H, W, 1]
        masked = (masked - 0.5) * keep + 0.5  # the hole becomes mid grey, as the models were trained
        concat_latent = vae.encode(masked)
        latent = {"samples": vae.encode(pixels)}
        if noise_mask:
            latent["noise_mask"] = mask
        out = [[[context, {**opts, "concat_latent_image": concat_latent, "concat_mask": mask}]
                for context, opts in cond] for cond in (positive, negative)]
        return (out[0], out[1], latent)


NODES = [SetLatentNoiseMask, VAEEncodeForInpaint, InpaintModelConditioning]
