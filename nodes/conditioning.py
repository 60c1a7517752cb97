"""Conditioning nodes (docs/comfy-api.md §6): combine, average, concat, and restrict CONDITIONING to areas,
masks, strengths and timestep ranges. Entries are ``[context, options]``; options are copied, never
mutated, so upstream cached outputs stay intact."""
from __future__ import annotations

import logging

from core.execution.spec import MAX_RESOLUTION, Combo, Float, In, Int, Node, Output

log = logging.getLogger(__name__)


def _with(conditioning, **options) -> list:
    return [[context, {**opts, **options}] for context, opts in conditioning]


class ConditioningCombine(Node):
    CATEGORY = "conditioning"
    COMFY_FUNCTION = "combine"
    DISPLAY_NAME = "Conditioning (Combine)"
    INPUTS = (In("CONDITIONING", "conditioning_1"), In("CONDITIONING", "conditioning_2"))
    OUTPUTS = (Output("CONDITIONING"),)

    def execute(self, conditioning_1, conditioning_2):
        return (list(conditioning_1) + list(conditioning_2),)


class ConditioningAverage(Node):
    CATEGORY = "conditioning"
    COMFY_FUNCTION = "addWeighted"
    DISPLAY_NAME = "Conditioning (Average)"
    INPUTS = (In("CONDITIONING", "conditioning_to"), In("CONDITIONING", "conditioning_from"),
              Float("conditioning_to_strength", default=1.0, min=0.0, max=1.0, step=0.01))
    OUTPUTS = (Output("CONDITIONING"),)

    def execute(self, conditioning_to, conditioning_from, conditioning_to_strength):
        import torch

        if not conditioning_from:
            raise ValueError("ConditioningAverage, input 'conditioning_from': empty conditioning")
        if len(conditioning_from) > 1:
            log.warning("ConditioningAverage: conditioning_from has %d entries; only the first is used",
                        len(conditioning_from))
        w = conditioning_to_strength
        src, src_opts = conditioning_from[0]
        pooled_from = src_opts.get("pooled_output")
        out = []
        for context, opts in conditioning_to:
            other = src[:, :context.shape[1]]
            if other.shape[1] < context.shape[1]:  # pad the shorter prompt with zero tokens
                pad = context.new_zeros(other.shape[0], context.shape[1] - other.shape[1], context.shape[2])
                other = torch.cat([other, pad], dim=1)
            new_opts = dict(opts)
            pooled_to = opts.get("pooled_output", pooled_from)
            if pooled_from is not None and pooled_to is not None:
                new_opts["pooled_output"] = pooled_to * w + pooled_from * (1 - w)
            out.append([context * w + other * (1 - w), new_opts])
        return (out,)


class ConditioningConcat(Node):
    CATEGORY = "conditioning"
    COMFY_FUNCTION = "concat"
    DISPLAY_NAME = "Conditioning (Concat)"
    INPUTS = (In("CONDITIONING", "conditioning_to"), In("CONDITIONING", "conditioning_from"))
    OUTPUTS = (Output("CONDITIONING"),)

    def execute(self, conditioning_to, conditioning_from):
        import torch

        if not conditioning_from:
            raise ValueError("ConditioningConcat, input 'conditioning_from': empty conditioning")
        if len(conditioning_from) > 1:
            log.warning("ConditioningConcat: conditioning_from has %d entries; only the first is used",
                        len(conditioning_from))
        src = conditioning_from[0][0]
        return ([[torch.cat([context, src.to(context)], dim=1), dict(opts)] for context, opts in conditioning_to],)


class ConditioningSetArea(Node):
    CATEGORY = "conditioning"
    COMFY_FUNCTION = "append"
    DISPLAY_NAME = "Conditioning (Set Area)"
    INPUTS = (In("CONDITIONING", "conditioning"),
              Int("width", default=64, min=64, max=MAX_RESOLUTION, step=8),
              Int("height", default=64, min=64, max=MAX_RESOLUTION, step=8),
              Int("x", default=0, min=0, max=MAX_RESOLUTION, step=8),
              Int("y", default=0, min=0, max=MAX_RESOLUTION, step=8),
              Float("strength", default=1.0, min=0.0, max=10.0, step=0.01))
    OUTPUTS = (Output("CONDITIONING"),)

    def execute(self, conditioning, width, height, x, y, strength):
        # area in latent units: (h, w, y, x)
        return (_with(conditioning, area=(height // 8, width // 8, y // 8, x // 8), strength=strength,
                      set_area_to_bounds=False),)


class ConditioningSetAreaPercentage(Node):
    CATEGORY = "conditioning"
    COMFY_FUNCTION = "append"
    DISPLAY_NAME = "Conditioning (Set Area with Percentage)"
    INPUTS = (In("CONDITIONING", "conditioning"),
              Float("width", default=1.0, min=0.0, max=1.0, step=0.01),
              Float("height", default=1.0, min=0.0, max=1.0, step=0.01),
              Float("x", default=0.0, min=0.0, max=1.0, step=0.01),
              Float("y", default=0.0, min=0.0, max=1.0, step=0.01),
              Float("strength", default=1.0, min=0.0, max=10.0, step=0.01))
    OUTPUTS = (Output("CONDITIONING"),)

    def execute(self, conditioning, width, height, x, y, strength):
        return (_with(conditioning, area=("percentage", height, width, y, x), strength=strength,
                      set_area_to_bounds=False),)


class ConditioningSetAreaStrength(Node):
    CATEGORY = "conditioning"
    COMFY_FUNCTION = "append"
    INPUTS = (In("CONDITIONING", "conditioning"), Float("strength", default=1.0, min=0.0, max=10.0, step=0.01))
    OUTPUTS = (Output("CONDITIONING"),)

    def execute(self, conditioning, strength):
        return (_with(conditioning, strength=strength),)


class ConditioningSetMask(Node):
    CATEGORY = "conditioning"
    COMFY_FUNCTION = "append"
    DISPLAY_NAME = "Conditioning (Set Mask)"
    INPUTS = (In("CONDITIONING", "conditioning"), In("MASK", "mask"),
              Float("strength", default=1.0, min=0.0, max=10.0, step=0.01),
              Combo("set_cond_area", choices=("default", "mask bounds")))
    OUTPUTS = (Output("CONDITIONING"),)

    def execute(self, conditioning, mask, set_cond_area, strength):
        if mask.ndim < 3:
            mask = mask.unsqueeze(0)
        return (_with(conditioning, mask=mask, set_area_to_bounds=set_cond_area != "default",
                      mask_strength=strength),)


class ConditioningZeroOut(Node):
    CATEGORY = "advanced/conditioning"
    COMFY_FUNCTION = "zero_out"
    INPUTS = (In("CONDITIONING", "conditioning"),)
    OUTPUTS = (Output("CONDITIONING"),)

    def execute(self, conditioning):
        out = []
        for context, opts in conditioning:
            opts = dict(opts)
            if opts.get("pooled_output") is not None:
                opts["pooled_output"] = opts["pooled_output"].new_zeros(opts["pooled_output"].shape)
            out.append([context.new_zeros(context.shape), opts])
        return (out,)


class ConditioningSetTimestepRange(Node):
    CATEGORY = "advanced/conditioning"
    COMFY_FUNCTION = "set_range"
    INPUTS = (In("CONDITIONING", "conditioning"),
              Float("start", default=0.0, min=0.0, max=1.0, step=0.001),
              Float("end", default=1.0, min=0.0, max=1.0, step=0.001))
    OUTPUTS = (Output("CONDITIONING"),)

    def execute(self, conditioning, start, end):
        # fractions of the sampling run; guidance turns them into sigmas of the model's schedule
        return (_with(conditioning, start_percent=start, end_percent=end),)


class FluxGuidance(Node):
    CATEGORY = "advanced/conditioning/flux"
    COMFY_FUNCTION = "execute"
    COMFY_V3 = True
    INPUTS = (In("CONDITIONING", "conditioning"),
              Float("guidance", default=3.5, min=0.0, max=100.0, step=0.1))
    OUTPUTS = (Output("CONDITIONING"),)

    def execute(self, conditioning, guidance):
        # FLUX.1 [dev] was distilled from CFG: the scale is an input of the network (its guidance
        # embedding), read per entry when sampling (core/sampling/flow_conds.py)
        return (_with(conditioning, guidance=guidance),)


class InstructPixToPixConditioning(Node):
    COMFY_V3 = True  # ComfyUI declares it with its V3 API
    CATEGORY = "conditioning/instructpix2pix"
    INPUTS = (In("CONDITIONING", "positive"), In("CONDITIONING", "negative"), In("VAE", "vae"),
              In("IMAGE", "pixels"))
    OUTPUTS = (Output("CONDITIONING", "positive"), Output("CONDITIONING", "negative"), Output("LATENT", "latent"))

    def execute(self, positive, negative, pixels, vae):
        import torch

        # whole latent cells only: crop the image to a multiple of 8, centred
        h, w = pixels.shape[1] // 8 * 8, pixels.shape[2] // 8 * 8
        if h == 0 or w == 0:
            raise ValueError(f"InstructPixToPixConditioning, input 'pixels': image {pixels.shape[2]}x{pixels.shape[1]} "
                             "is smaller than 8 pixels")
        top, left = (pixels.shape[1] % 8) // 2, (pixels.shape[2] % 8) // 2
        pixels = pixels[:, top:top + h, left:left + w, :]
        concat = vae.encode(pixels)  # raw VAE latent: ip2p U-Nets take it unscaled
        out = [_with(positive, concat_latent_image=concat), _with(negative, concat_latent_image=concat)]
        return (out[0], out[1], {"samples": torch.zeros_like(concat)})


NODES = [ConditioningCombine, ConditioningAverage, ConditioningConcat, ConditioningSetArea,
         ConditioningSetAreaPercentage, ConditioningSetAreaStrength, ConditioningSetMask,
         ConditioningZeroOut, ConditioningSetTimestepRange, FluxGuidance, InstructPixToPixConditioning]
