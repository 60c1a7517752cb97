"""Loading FLUX.2 diffusion-model files into a MODEL: the network built on meta and filled from the file, with
per-tensor-scaled fp8 weights (the ``-fp8`` / ``fp8mixed`` releases) dequantized on the way.

Scaled 8-bit files store, beside a float8 ``<layer>.weight``, a float32 ``<layer>.weight_scale`` (also spelled
``<layer>.scale_weight`` in ComfyUI's older scaled-fp8 files); the real weight is ``stored x scale``. Input
scales (``input_scale`` / ``scale_input``, only for fp8 matmuls) and ComfyUI's ``comfy_quant`` layer markers
carry no weight and are skipped. Weights are dequantized to the load dtype (bf16 by default on a GPU): the
model then takes as much memory as the bf16 release.
"""
from __future__ import annotations

import logging

import torch

from core import devices
from core.models.building import build_module
from core.models.handles import ModelHandle
from core.models.latent_formats import for_family

log = logging.getLogger(__name__)

WEIGHT_SCALES = (".weight_scale", ".scale_weight")
NOT_WEIGHTS = (".input_scale", ".scale_input", ".comfy_quant")


def dequantized(sd, prefix: str, where: str) -> dict | None:
    """``{key: tensor}`` of the file's network tensors with scaled weights multiplied out; None when the file
    has no scales (then ``sd`` is used as it is)."""
    scales = {k for k in sd if k.startswith(prefix) and k.endswith(WEIGHT_SCALES)}
    if not scales:
        return None
    out = {}
    for key in sd:
        if not key.startswith(prefix) or key in scales or key.endswith(NOT_WEIGHTS) or key == prefix + "scaled_fp8":
            continue
        t = sd[key]
        base = key[:-len(".weight")] if key.endswith(".weight") else None
        scale = None
        if base is not None:
            scale = next((sd[base + s] for s in WEIGHT_SCALES if base + s in sd), None)
        if scale is not None:
            if scale.numel() not in (1, t.shape[0]):
                raise ValueError(f"{where}: scale of {key} has shape {tuple(scale.shape)}; per-tensor or "
                                 f"per-output-row scales are understood, not this")
            scale = scale.float().reshape(-1, *([1] * (t.ndim - 1))) if scale.numel() > 1 else scale.float()
            t = t.float() * scale
        out[key] = t
    log.info("%s: %d scaled 8-bit weights dequantized", where, len(scales))
    return out


def load_flux2(sd, cfg, prefix: str, dtype: torch.dtype, where: str, name: str) -> ModelHandle:
    from core.models.flux2 import Flux2
    from core.sampling.model_sampling import default_for_family

    net = build_module(lambda: Flux2(cfg.unet), dequantized(sd, prefix, where) or sd, prefix, dtype,
                       devices.offload_device(), f"{where} (FLUX.2)")
    c = cfg.unet
    log.info("%s: FLUX.2 [%s] transformer (%d double + %d single blocks, width %d), %s", where,
             cfg.extra.get("variant", "?"), c.depth, c.depth_single_blocks, c.hidden_size, dtype)
    model = ModelHandle(net, cfg, for_family(cfg.family), name=name)
    model.model_sampling = default_for_family(cfg.family)
    return model
