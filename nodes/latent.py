"""Latent nodes (docs/comfy-api.md §6): create, resize, combine, slice and transform LATENT dicts.

LATENT = {"samples": [B, 4, H/8, W/8] float32, "noise_mask"?: [B, 1, H, W], "batch_index"?: [int]}.
Pixel inputs (x, y, width, height, feather) are divided by 8 into latent units.
"""
from __future__ import annotations

from core.execution.spec import MAX_RESOLUTION, Combo, Float, In, Int, Node, Output

UPSCALE_METHODS = ("nearest-exact", "bilinear", "area", "bicubic", "bislerp")
CROPS = ("disabled", "center")


def _samples(node: str, latent, name: str = "samples"):
    if not isinstance(latent, dict) or "samples" not in latent:
        raise ValueError(f"{node}, input '{name}': expected a LATENT dict with 'samples', got {type(latent).__name__}")
    return latent["samples"]


class EmptyLatentImage(Node):
    CATEGORY = "latent"
    COMFY_FUNCTION = "generate"
    DISPLAY_NAME = "Empty Latent Image"
    DESCRIPTION = "Create a new batch of empty latent images to be denoised via sampling."
    INPUTS = (Int("width", default=512, min=16, max=MAX_RESOLUTION, step=8),
              Int("height", default=512, min=16, max=MAX_RESOLUTION, step=8),
              Int("batch_size", default=1, min=1, max=4096))
    OUTPUTS = (Output("LATENT"),)

    def execute(self, width, height, batch_size=1):
        import torch

        return ({"samples": torch.zeros([batch_size, 4, height // 8, width // 8])},)


class LatentUpscale(Node):
    CATEGORY = "latent"
    COMFY_FUNCTION = "upscale"
    DISPLAY_NAME = "Upscale Latent"
    upscale_methods = list(UPSCALE_METHODS)  # ComfyUI class attributes plugins read
    crop_methods = list(CROPS)
    INPUTS = (In("LATENT", "samples"), Combo("upscale_method", choices=UPSCALE_METHODS),
              Int("width", default=512, min=0, max=MAX_RESOLUTION, step=8),
              Int("height", default=512, min=0, max=MAX_RESOLUTION, step=8),
              Combo("crop", choices=CROPS))
    OUTPUTS = (Output("LATENT"),)

    def execute(self, samples, upscale_method, width, height, crop):
        from core.sampling.latent_ops import resize

        x = _samples("LatentUpscale", samples)
        if width == 0 and height == 0:
            return (samples,)
        if width == 0:  # keep the aspect ratio
            height = max(64, height)
            width = max(64, round(x.shape[-1] * height / x.shape[-2]))
        elif height == 0:
            width = max(64, width)
            height = max(64, round(x.shape[-2] * width / x.shape[-1]))
        else:
            width, height = max(64, width), max(64, height)
        out = dict(samples)
        out["samples"] = resize(x, width // 8, height // 8, upscale_method, crop)
        return (out,)


class LatentUpscaleBy(Node):
    CATEGORY = "latent"
    COMFY_FUNCTION = "upscale"
    DISPLAY_NAME = "Upscale Latent By"
    upscale_methods = list(UPSCALE_METHODS)
    INPUTS = (In("LATENT", "samples"), Combo("upscale_method", choices=UPSCALE_METHODS),
              Float("scale_by", default=1.5, min=0.01, max=8.0, step=0.01))
    OUTPUTS = (Output("LATENT"),)

    def execute(self, samples, upscale_method, scale_by):
        from core.sampling.latent_ops import resize

        x = _samples("LatentUpscaleBy", samples)
        out = dict(samples)
        out["samples"] = resize(x, max(1, round(x.shape[-1] * scale_by)), max(1, round(x.shape[-2] * scale_by)),
                                upscale_method)
        return (out,)


class LatentComposite(Node):
    CATEGORY = "latent"
    COMFY_FUNCTION = "composite"
    INPUTS = (In("LATENT", "samples_to"), In("LATENT", "samples_from"),
              Int("x", default=0, min=0, max=MAX_RESOLUTION, step=8),
              Int("y", default=0, min=0, max=MAX_RESOLUTION, step=8),
              Int("feather", default=0, min=0, max=MAX_RESOLUTION, step=8))
    OUTPUTS = (Output("LATENT"),)

    def execute(self, samples_to, samples_from, x, y, composite_method="normal", feather=0):
        from core.sampling.latent_ops import composite

        if composite_method != "normal":
            raise ValueError(f"LatentComposite: composite_method {composite_method!r} is not supported (only 'normal')")

        out = dict(samples_to)
        out["samples"] = composite(_samples("LatentComposite", samples_to, "samples_to"),
                                   _samples("LatentComposite", samples_from, "samples_from"),
                                   x // 8, y // 8, feather // 8)
        return (out,)


class LatentBlend(Node):
    CATEGORY = "_for_testing"
    COMFY_FUNCTION = "blend"
    INPUTS = (In("LATENT", "samples1"), In("LATENT", "samples2"),
              Float("blend_factor", default=0.5, min=0.0, max=1.0, step=0.01))
    OUTPUTS = (Output("LATENT"),)

    def execute(self, samples1, samples2, blend_factor, blend_mode="normal"):
        from core.sampling.latent_ops import resize, to_batch

        a = _samples("LatentBlend", samples1, "samples1")
        b = _samples("LatentBlend", samples2, "samples2")
        if b.shape[-2:] != a.shape[-2:]:
            b = resize(b, a.shape[-1], a.shape[-2], "bicubic")
        out = dict(samples1)
        out["samples"] = a * blend_factor + to_batch(b, a.shape[0]) * (1 - blend_factor)
        return (out,)


class LatentFromBatch(Node):
    CATEGORY = "latent/batch"
    COMFY_FUNCTION = "frombatch"
    DISPLAY_NAME = "Latent From Batch"
    INPUTS = (In("LATENT", "samples"), Int("batch_index", default=0, min=0, max=63),
              Int("length", default=1, min=1, max=64))
    OUTPUTS = (Output("LATENT"),)

    def execute(self, samples, batch_index, length):
        x = _samples("LatentFromBatch", samples)
        start = min(batch_index, x.shape[0] - 1)
        length = min(x.shape[0] - start, length)
        out = dict(samples)
        out["samples"] = x[start:start + length].clone()
        mask = samples.get("noise_mask")
        if mask is not None and mask.shape[0] > 1:
            if mask.shape[0] < x.shape[0]:
                mask = mask.repeat(-(-x.shape[0] // mask.shape[0]), 1, 1, 1)[:x.shape[0]]
            out["noise_mask"] = mask[start:start + length].clone()
        # which noise each item gets, so a batch item can be re-rendered alone (docs/comfy-api.md §6)
        indices = samples.get("batch_index", list(range(x.shape[0])))
        out["batch_index"] = list(indices[start:start + length])
        return (out,)


class RepeatLatentBatch(Node):
    CATEGORY = "latent/batch"
    COMFY_FUNCTION = "repeat"
    INPUTS = (In("LATENT", "samples"), Int("amount", default=1, min=1, max=64))
    OUTPUTS = (Output("LATENT"),)

    def execute(self, samples, amount):
        x = _samples("RepeatLatentBatch", samples)
        out = dict(samples)
        out["samples"] = x.repeat(amount, 1, 1, 1)
        mask = samples.get("noise_mask")
        if mask is not None and mask.shape[0] > 1:
            if mask.shape[0] < x.shape[0]:
                mask = mask.repeat(-(-x.shape[0] // mask.shape[0]), 1, 1, 1)[:x.shape[0]]
            out["noise_mask"] = mask.repeat(amount, 1, 1, 1)
        if "batch_index" in samples:
            base = list(samples["batch_index"])
            offset = max(base) - min(base) + 1
            out["batch_index"] = [i + k * offset for k in range(amount) for i in base]
        return (out,)


class LatentBatch(Node):
    CATEGORY = "latent/batch"
    COMFY_FUNCTION = "batch"
    COMFY_V3 = True
    INPUTS = (In("LATENT", "samples1"), In("LATENT", "samples2"))
    OUTPUTS = (Output("LATENT"),)

    def execute(self, samples1, samples2):
        import torch

        from core.sampling.latent_ops import resize

        a = _samples("LatentBatch", samples1, "samples1")
        b = _samples("LatentBatch", samples2, "samples2")
        if b.shape[-2:] != a.shape[-2:]:
            b = resize(b, a.shape[-1], a.shape[-2], "bilinear")
        out = dict(samples1)
        out.pop("noise_mask", None)
        out["samples"] = torch.cat([a, b], dim=0)
        out["batch_index"] = (list(samples1.get("batch_index", range(a.shape[0])))
                              + list(samples2.get("batch_index", range(b.shape[0]))))
        return (out,)


class LatentCrop(Node):
    CATEGORY = "latent/transform"
    COMFY_FUNCTION = "crop"
    INPUTS = (In("LATENT", "samples"),
              Int("width", default=512, min=64, max=MAX_RESOLUTION, step=8),
              Int("height", default=512, min=64, max=MAX_RESOLUTION, step=8),
              Int("x", default=0, min=0, max=MAX_RESOLUTION, step=8),
              Int("y", default=0, min=0, max=MAX_RESOLUTION, step=8))
    OUTPUTS = (Output("LATENT"),)

    def execute(self, samples, width, height, x, y):
        s = _samples("LatentCrop", samples)
        x0 = max(0, min(x // 8, s.shape[3] - 8))  # keep at least 8 latent pixels
        y0 = max(0, min(y // 8, s.shape[2] - 8))
        out = dict(samples)
        out["samples"] = s[:, :, y0:y0 + height // 8, x0:x0 + width // 8].clone()
        return (out,)


class LatentFlip(Node):
    CATEGORY = "latent/transform"
    COMFY_FUNCTION = "flip"
    INPUTS = (In("LATENT", "samples"), Combo("flip_method", choices=("x-axis: vertically", "y-axis: horizontally")))
    OUTPUTS = (Output("LATENT"),)

    def execute(self, samples, flip_method):
        s = _samples("LatentFlip", samples)
        out = dict(samples)
        out["samples"] = s.flip(2 if flip_method.startswith("x") else 3)
        return (out,)


class LatentRotate(Node):
    CATEGORY = "latent/transform"
    COMFY_FUNCTION = "rotate"
    INPUTS = (In("LATENT", "samples"), Combo("rotation", choices=("none", "90 degrees", "180 degrees", "270 degrees")))
    OUTPUTS = (Output("LATENT"),)

    def execute(self, samples, rotation):
        import torch

        s = _samples("LatentRotate", samples)
        quarter_turns = {"none": 0, "90 degrees": 1, "180 degrees": 2, "270 degrees": 3}[rotation]
        out = dict(samples)
        out["samples"] = torch.rot90(s, k=quarter_turns, dims=[3, 2])  # clockwise
        return (out,)


NODES = [EmptyLatentImage, LatentUpscale, LatentUpscaleBy, LatentComposite, LatentBlend, LatentFromBatch,
         RepeatLatentBatch, LatentBatch, LatentCrop, LatentFlip, LatentRotate]
