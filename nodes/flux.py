"""FLUX.1 Kontext nodes: reference latents on the conditioning, and the image sizes Kontext was trained at.

The official ``flux_kontext_dev_basic`` template wires them as: LoadImage -> FluxKontextImageScale ->
VAEEncode -> ReferenceLatent(conditioning) -> FluxGuidance -> KSampler (the negative is a
ConditioningZeroOut of the positive). The model side is core/models/flux.py + flux_kontext.py.
"""
from __future__ import annotations

from core.execution.spec import Combo, In, Node, Output


def _append_option(conditioning, key: str, values: list) -> list:
    """Entries with ``values`` added to the list option ``key`` (copies; the input stays as it was)."""
    return [[context, {**opts, key: list(opts.get(key) or []) + list(values)}] for context, opts in conditioning]


class ReferenceLatent(Node):
    CATEGORY = "advanced/conditioning/edit_models"
    COMFY_FUNCTION = "execute"
    COMFY_V3 = True
    DESCRIPTION = ("Sets the guiding latent for an edit model (FLUX.1 Kontext). If the model supports it you can "
                   "chain several to give several reference images.")
    INPUTS = (In("CONDITIONING", "conditioning"), In("LATENT", "latent", optional=True))
    OUTPUTS = (Output("CONDITIONING"),)

    def execute(self, conditioning, latent=None):
        if latent is None:
            return (conditioning,)
        if not isinstance(latent, dict) or "samples" not in latent:
            raise ValueError("ReferenceLatent, input 'latent': expected a LATENT (a dict with 'samples')")
        return (_append_option(conditioning, "reference_latents", [latent["samples"]]),)


class FluxKontextImageScale(Node):
    CATEGORY = "advanced/conditioning/flux"
    COMFY_FUNCTION = "execute"
    COMFY_V3 = True
    DESCRIPTION = "Resizes the image to the resolution FLUX.1 Kontext was trained at that is closest in aspect ratio."
    INPUTS = (In("IMAGE", "image"),)
    OUTPUTS = (Output("IMAGE"),)

    def execute(self, image):
        from core.images import scale
        from core.models.flux_kontext import preferred_resolution

        width, height = preferred_resolution(image.shape[2], image.shape[1])
        return (scale(image, width, height, "lanczos", "center"),)


class FluxKontextMultiReferenceLatentMethod(Node):
    CATEGORY = "advanced/conditioning/flux"
    COMFY_FUNCTION = "execute"
    COMFY_V3 = True
    DESCRIPTION = "How several reference latents are placed relative to each other (core/models/flux_kontext.py)."
    INPUTS = (In("CONDITIONING", "conditioning"),
              Combo("reference_latents_method", choices=["offset", "index", "uxo/uno"], default="offset"))
    OUTPUTS = (Output("CONDITIONING"),)

    def execute(self, conditioning, reference_latents_method):
        method = "uxo" if ("uxo" in reference_latents_method or "uso" in reference_latents_method) \
            else reference_latents_method
        return ([[context, {**opts, "reference_latents_method": method}] for context, opts in conditioning],)


NODES = [ReferenceLatent, FluxKontextImageScale, FluxKontextMultiReferenceLatentMethod]
