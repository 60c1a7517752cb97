"""Single-file checkpoints -> (ModelHandle, ClipHandle, VaeHandle); standalone U-Net and VAE files.

Modules are built on the ``meta`` device (no memory, no init cost), then every tensor of the file is
converted once to the target dtype/device and assigned in place of the meta parameter
(``load_state_dict(assign=True)``). When the file's dtype already matches on the CPU nothing is
copied at all: the parameters are views of the memory-mapped file (weights.py).
Optional keys (schedule buffers, ``model_ema.*``, ``position_ids``, ``denoiser.sigmas``) are ignored.
"""
from __future__ import annotations

import logging
from pathlib import Path

import torch

from core import devices
from core.models import detection
from core.models.handles import ModelHandle, VaeHandle
from core.models.latent_formats import for_family
from core.models.unet import UNetModel
from core.models.vae import AutoencoderKL
from core.models.weights import WeightsError, load_file

log = logging.getLogger(__name__)


def build_module(factory, sd, prefix: str, dtype: torch.dtype, device, where: str) -> torch.nn.Module:
    """``factory()`` built on meta, filled from ``sd[prefix + key]``; errors name ``where`` and the keys."""
    with torch.device("meta"):
        module = factory()
    expected = module.state_dict()
    loaded, missing, wrong = {}, [], []
    for key, meta_tensor in expected.items():
        t = sd.get(prefix + key)
        if t is None:
            missing.append(prefix + key)
        elif tuple(t.shape) != tuple(meta_tensor.shape):
            wrong.append(f"{prefix + key}: file {list(t.shape)} vs model {list(meta_tensor.shape)}")
        else:
            loaded[key] = t.to(device=device, dtype=dtype if t.is_floating_point() else t.dtype)
    if missing or wrong:
        detail = []
        if missing:
            detail.append(f"{len(missing)} missing (first: {', '.join(missing[:3])})")
        if wrong:
            detail.append(f"{len(wrong)} with the wrong shape (first: {'; '.join(wrong[:3])})")
        raise WeightsError(f"{where}: the weights do not fit the detected architecture: {'; '.join(detail)}")
    extra = [k for k in sd if k.startswith(prefix) and k[len(prefix):] not in expected] if prefix else []
    if extra:
        log.warning("%s: %d tensors under %r not used (first: %s)", where, len(extra), prefix, ", ".join(extra[:3]))
    module.load_state_dict(loaded, strict=True, assign=True)
    return module.eval().requires_grad_(False)


def _load_dtype(force: torch.dtype | None, policy) -> torch.dtype:
    return force if force is not None else policy(devices.get_torch_device())


def load_vae_from_state_dict(sd, prefix: str, where: str, dtype: torch.dtype | None = None, name: str = "") -> VaeHandle:
    cfg = detection.detect_vae_config(sd, prefix)
    dtype = dtype or devices.vae_dtype()
    vae = build_module(lambda: AutoencoderKL(cfg), sd, prefix, dtype, devices.offload_device(), f"{where} (VAE)")
    return VaeHandle(vae, name=name)


def load_unet_from_state_dict(sd, where: str, metadata=None, path=None, dtype: torch.dtype | None = None,
                              name: str = "") -> ModelHandle:
    cfg = detection.detect(sd, metadata, path, name=where)
    prefix = cfg.extra["unet_prefix"]
    dtype = _load_dtype(dtype, devices.unet_dtype)
    unet = build_module(lambda: UNetModel(cfg.unet), sd, prefix, dtype, devices.offload_device(), f"{where} (U-Net)")
    log.info("%s: %s %s-prediction U-Net, %s", where, cfg.family, cfg.prediction, dtype)
    return ModelHandle(unet, cfg, for_family(cfg.family), name=name)


class MissingClip:
    """Stands for the CLIP output when the text encoder cannot be loaded: any use raises why."""

    def __init__(self, reason: str):
        self.reason = reason

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        raise RuntimeError(self.reason)


def load_checkpoint(path, output_clip: bool = True, output_vae: bool = True, unet_dtype: torch.dtype | None = None,
                    clip_dtype: torch.dtype | None = None, vae_dtype: torch.dtype | None = None):
    """(ModelHandle, ClipHandle | MissingClip | None, VaeHandle | None) from one checkpoint file."""
    path = Path(path)
    where = f"checkpoint {path.name}"
    sd, metadata = load_file(path)
    model = load_unet_from_state_dict(sd, where, metadata, path, dtype=unet_dtype, name=path.stem)
    family = model.config.family

    vae = None
    if output_vae:
        prefix = detection.vae_prefix(sd)
        if prefix is None or prefix != "first_stage_model.":
            raise WeightsError(f"{where}: no VAE in this file (no 'first_stage_model.*' keys); load one with VAELoader")
        vae = load_vae_from_state_dict(sd, prefix, where, dtype=vae_dtype, name=path.stem)

    clip = None
    if output_clip and not model.config.text_encoders:
        log.warning("%s: no text encoder in this file; CLIP output is empty (load one with CLIPLoader)", where)
    elif output_clip:
        try:
            from core.models.text_encoder import clip_from_checkpoint
        except ImportError as e:
            clip = MissingClip(f"{where}: the text encoder could not be loaded ({e})")
        else:
            dtype = _load_dtype(clip_dtype, devices.text_encoder_dtype)
            clip = clip_from_checkpoint(sd, family, dtype=dtype, device=devices.offload_device())
    return model, clip, vae


def load_unet(path, dtype: torch.dtype | None = None) -> ModelHandle:
    """A U-Net-only file (``diffusion_models`` folder), with or without the ``model.diffusion_model.`` prefix."""
    path = Path(path)
    sd, metadata = load_file(path)
    return load_unet_from_state_dict(sd, f"diffusion model {path.name}", metadata, path, dtype=dtype, name=path.stem)


def load_vae(path, dtype: torch.dtype | None = None) -> VaeHandle:
    """A standalone VAE file (LDM layout, bare or under ``first_stage_model.``/``vae.``) or a checkpoint's VAE."""
    path = Path(path)
    where = f"VAE {path.name}"
    sd, _metadata = load_file(path)
    prefix = detection.vae_prefix(sd)
    if prefix is None:
        hint = " (diffusers-format VAE files are not supported; use the single-file LDM layout)" \
            if "decoder.up_blocks.0.resnets.0.conv1.weight" in sd else ""
        raise WeightsError(f"{where}: no KL-f8 VAE found (expected 'decoder.conv_in.weight' and "
                           f"'post_quant_conv.weight', optionally under 'first_stage_model.'){hint}")
    return load_vae_from_state_dict(sd, prefix, where, dtype=dtype, name=path.stem)
