"""ComfyUI's ``latent_preview`` for custom node packs: the step callback that sends live previews.

``prepare_callback(model, steps)`` returns ``callback(step, x0, x, total_steps)`` (what
``comfy.sample.sample`` takes): it advances the running job's progress bar and attaches a
latent2rgb preview (core.sampling.preview) when the job asked for previews.
"""
from __future__ import annotations

from comfy.cli_args import LatentPreviewMethod, args  # noqa: F401  (ComfyUI's module re-exports both)
from core.compat.missing import module_getattr

MAX_PREVIEW_RESOLUTION = 512


class LatentPreviewer:
    def decode_latent_to_preview(self, x0):
        raise NotImplementedError

    def decode_latent_to_preview_image(self, preview_format, x0):
        return preview_format, self.decode_latent_to_preview(x0), MAX_PREVIEW_RESOLUTION


class Latent2RGBPreviewer(LatentPreviewer):
    def __init__(self, latent_rgb_factors, latent_rgb_factors_bias=None, latent_rgb_factors_reshape=None):
        from core.models.latent_formats import LatentFormat

        self.format = LatentFormat("plugin", 1.0, len(latent_rgb_factors), tuple(map(tuple, latent_rgb_factors)),
                                   tuple(latent_rgb_factors_bias) if latent_rgb_factors_bias else None)

    def decode_latent_to_preview(self, x0):
        from core.sampling.preview import latent_to_image

        return latent_to_image(self.format, x0)


def get_previewer(device, latent_format):
    """A previewer for ``latent_format`` (ours or comfy.latent_formats'), or None when previews are off."""
    from core.execution import progress

    if progress.preview_method() in (None, "none"):
        return None
    factors = getattr(latent_format, "latent_rgb_factors", None)
    if not factors:
        return None
    return Latent2RGBPreviewer(factors, getattr(latent_format, "latent_rgb_factors_bias", None))


def prepare_callback(model, steps, x0_output_dict=None):
    """``callback(step, x0, x, total_steps)``: progress + preview of the running job."""
    from core.execution.progress import ProgressBar
    from core.sampling.preview import make_previewer

    previewer = make_previewer(model.latent_format)
    bar = ProgressBar(steps)

    def callback(step, x0, x, total_steps):
        if x0_output_dict is not None:
            x0_output_dict["x0"] = x0
        preview = previewer(x0) if previewer is not None else None
        bar.update_absolute(step + 1, total_steps, preview=preview)

    return callback


def set_preview_method(override: str | None) -> None:
    from comfy.cli_args import LatentPreviewMethod, args

    if override and override != "default":
        args.preview_method = LatentPreviewMethod(override)


__getattr__ = module_getattr(__name__)
