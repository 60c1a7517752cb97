"""Loading FLUX.1 / SD3.5 text encoders: standalone files (CLIPLoader, DualCLIPLoader, TripleCLIPLoader
types ``sd3`` and ``flux``) and the ``text_encoders.*`` bundled in single-file checkpoints.

Which tower a file holds is read from its tensors, as ComfyUI's ``detect_te_model`` does: T5 by its
``encoder.block.0.layer.0.SelfAttention.q`` weight; a CLIP tower by its depth (32 blocks: OpenCLIP bigG,
24: OpenCLIP H, fewer: CLIP-L). File order never matters.

Files users have: ``clip_l.safetensors`` and ``clip_g.safetensors`` in transformers' layout
(``text_model.encoder.layers.N...`` and ``text_projection.weight``; OpenCLIP-layout files are converted
too), ``t5xxl_fp16.safetensors`` / ``t5xxl_fp8_e4m3fn_scaled.safetensors`` (core/models/t5.py). In
checkpoints: ``text_encoders.clip_l.transformer.text_model.*``, ``text_encoders.clip_g.transformer.*``,
``text_encoders.t5xxl.transformer.*`` (SD3.5 carries all three, some FLUX files L and T5).

dtypes: CLIP towers take the text-encoder dtype (core.devices, or ``dtype``); T5 keeps a half-precision
file's dtype (scaled fp8 is dequantized to the dtype of the file's norms) unless a half dtype is asked
for, because it computes in float32 anyway and XXL has 4.7 B parameters (:func:`_t5_dtype`).
"""
from __future__ import annotations

import logging
import re

import torch

from core.models import t5 as t5_net
from core.models.clip import OPENCLIP, config_from_state_dict, detect_layout, load_encoder
from core.models.dit_text import CLIP_ROLES, PREFIXES, T5_MIN_LENGTH, DitClipHandle, T5Role, T5Tower
from core.models.text_encoder import Encoder, default_device, default_dtype

log = logging.getLogger(__name__)

KIND_NAMES = {"l": "CLIP-L", "g": "OpenCLIP bigG", "h": "OpenCLIP H", "t5xxl": "T5-XXL"}


def tower_kind(sd: dict) -> str:
    """``"t5xxl"``, ``"g"``, ``"h"`` or ``"l"`` for one text-encoder state dict (no wrapping prefix)."""
    if t5_net.is_t5(sd):
        return "t5xxl"
    try:
        layers = config_from_state_dict(sd).num_layers
    except KeyError as e:
        raise ValueError(f"not a CLIP or T5 text encoder (no {e} weight; found e.g. {sorted(sd)[:3]})") from None
    # ComfyUI's rule: a block index 30 means bigG (32 blocks), 22 means H (24 blocks), anything else is L
    return "g" if layers > 30 else "h" if layers > 22 else "l"


def _explicit_dtype(dtype):
    from core import devices

    s = devices.settings
    if dtype is not None:
        return dtype
    if s.fp32_text_enc or s.force_fp32 or s.bf16_text_enc or s.fp16_text_enc or s.force_fp16:
        return devices.text_encoder_dtype()
    return None


def _t5_dtype(sd: dict, dtype) -> torch.dtype:
    """T5's storage dtype: the file's half precision (of its norms, for fp8 files) even when float32 is
    asked, since it computes in float32 anyway (a wider copy would only cost memory: 19 GB for XXL); an
    explicit half dtype is honoured; a float32 file takes the requested or default text-encoder dtype."""
    requested = _explicit_dtype(dtype)
    file_dtype = sd["encoder.final_layer_norm.weight"].dtype
    if file_dtype in (torch.float16, torch.bfloat16) and requested in (None, torch.float32):
        return file_dtype
    return requested or default_dtype()


def _clip_tower(name: str, family: str, sd: dict, dtype, device, where: str) -> Encoder:
    role = CLIP_ROLES[family][name]
    if detect_layout(sd) != OPENCLIP and "text_projection" in sd and "text_projection.weight" not in sd:
        # files written by ComfyUI's CLIPSave keep OpenCLIP's x @ P matrix under the transformers names
        sd = {**{k: v for k, v in sd.items() if k != "text_projection"},
              "text_projection.weight": sd["text_projection"].t()}
    if any(k.endswith(".scale_weight") for k in sd):  # a scaled-fp8 checkpoint may store its CLIPs that way too
        sd = t5_net.dequantize_scaled_fp8(sd, dtype or default_dtype())
        sd.pop("scaled_fp8", None)
    model = load_encoder(sd, dtype=dtype or default_dtype(), device=device, activation=role.activation,
                         where=f"{where}: {KIND_NAMES[name]}")
    if detect_layout(sd) == OPENCLIP:
        log.info("%s: %s converted from the OpenCLIP layout", where, KIND_NAMES[name])
    return Encoder(role, model, PREFIXES[name])


def _t5_tower(family: str, sd: dict, dtype, device, where: str) -> T5Tower:
    model = t5_net.load_t5(sd, dtype=_t5_dtype(sd, dtype), device=device, where=f"{where}: T5")
    return T5Tower(T5Role(min_length=T5_MIN_LENGTH[family]), model, PREFIXES["t5xxl"])


def _build(family: str, parts: dict, *, dtype, device, embedding_dirs, where: str) -> DitClipHandle:
    encoders = []
    for name in ("l", "g"):
        if name in parts:
            encoders.append(_clip_tower(name, family, parts[name], dtype, device, where))
    if "t5xxl" in parts:
        encoders.append(_t5_tower(family, parts["t5xxl"], dtype, device, where))
    return DitClipHandle(encoders, family, embedding_dirs)


def _by_kind(sds: list, where: str) -> dict:
    parts = {}
    for i, sd in enumerate(sds, 1):
        kind = tower_kind(sd)
        if kind in parts:
            raise ValueError(f"{where}: two {KIND_NAMES[kind]} files (file {i} repeats one); give each tower once")
        parts[kind] = sd
    return parts


def clip_sd3(sds: list, *, dtype=None, device, embedding_dirs=None) -> DitClipHandle:
    """SD3.5's text encoders from one, two or three files: any of CLIP-L, OpenCLIP bigG, T5-XXL."""
    where = "text encoder type sd3"
    if not 1 <= len(sds) <= 3:
        raise ValueError(f"{where} takes one to three files (clip_l, clip_g, t5xxl), got {len(sds)}")
    parts = _by_kind(sds, where)
    if "h" in parts:
        raise ValueError(f"{where}: an OpenCLIP H file (SD2's encoder) is not one of SD3's clip_l, clip_g, t5xxl")
    return _build("sd3", parts, dtype=dtype, device=device, embedding_dirs=embedding_dirs, where=where)


def clip_flux(sds: list, *, dtype=None, device, embedding_dirs=None) -> DitClipHandle:
    """FLUX.1's text encoders: CLIP-L and T5-XXL, in either order."""
    where = "text encoder type flux"
    if len(sds) != 2:
        raise ValueError(f"{where} takes two files (clip_l and t5xxl), got {len(sds)}")
    parts = _by_kind(sds, where)
    if set(parts) != {"l", "t5xxl"}:
        found = " + ".join(KIND_NAMES[k] for k in parts)
        raise ValueError(f"{where} needs CLIP-L and T5-XXL, got {found}")
    return _build("flux", parts, dtype=dtype, device=device, embedding_dirs=embedding_dirs, where=where)


def bundled_towers(sd) -> dict:
    """``{"l" | "g" | "t5xxl": prefix-free state dict}`` of the text encoders a checkpoint carries."""
    parts = {}
    for name, prefix in PREFIXES.items():
        part = {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}
        if part:
            parts[name] = part
    return parts


_FLUX = re.compile(r"^flux")


def clip_from_bundle(sd, family: str, *, dtype=None, device=None, embedding_dirs=None) -> DitClipHandle:
    """The CLIP of an SD3.5 or FLUX single-file checkpoint (``text_encoders.*`` keys)."""
    device = torch.device(device) if device is not None else default_device()
    kind = "flux" if _FLUX.match(family) else "sd3"
    where = f"{family} checkpoint text encoders"
    parts = bundled_towers(sd)
    if kind == "flux":
        parts.pop("g", None)
        if set(parts) != {"l", "t5xxl"}:
            raise ValueError(f"{where}: the file needs text_encoders.clip_l.* and text_encoders.t5xxl.* "
                             f"(found: {', '.join(sorted(parts)) or 'none'}); load them with DualCLIPLoader type flux")
    elif not parts:
        raise ValueError(f"{where}: the file carries no text_encoders.clip_l/clip_g/t5xxl weights; "
                         "load them with TripleCLIPLoader")
    return _build(kind, parts, dtype=dtype, device=device, embedding_dirs=embedding_dirs, where=where)
