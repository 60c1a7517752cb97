"""Single-file checkpoints -> (ModelHandle, ClipHandle, VaeHandle); standalone U-Net and VAE files.

Modules are built on the ``meta`` device with their weight initialisers skipped and filled tensor by
tensor from the file (building.py: no copy when the file's dtype already matches on the CPU; to a GPU,
tensors travel in the file's dtype and are converted there). Loads run with the cyclic garbage collector
paused. Optional keys (schedule buffers, ``model_ema.*``, ``position_ids``, ``denoiser.sigmas``) are ignored.
"""
from __future__ import annotations

import logging
from pathlib import Path

import torch

from core import devices
from core.models import detection, vae_wan
from core.models.building import build_module, without_gc
from core.models.handles import ModelHandle, VaeHandle
from core.models.latent_formats import for_family
from core.models.unet import UNetModel
from core.models.vae import AutoencoderKL
from core.models.weights import WeightsError, load_file

log = logging.getLogger(__name__)


def _load_dtype(force: torch.dtype | None, policy) -> torch.dtype:
    return force if force is not None else policy(devices.get_torch_device())


def load_vae_from_state_dict(sd, prefix: str, where: str, dtype: torch.dtype | None = None, name: str = "") -> VaeHandle:
    cfg = detection.detect_vae_config(sd, prefix)
    dtype = dtype or devices.vae_dtype()
    vae = build_module(lambda: AutoencoderKL(cfg), sd, prefix, dtype, devices.offload_device(), f"{where} (VAE)")
    return VaeHandle(vae, name=name)


def _build(factory, sd, prefix: str, dtype: torch.dtype, where: str, storage):
    """The diffusion network, its Linear/Conv weights in 8 bits when ``storage`` says so (fp8.py)."""
    if storage is not None and storage.active:
        from core.models import fp8

        return fp8.build(factory, sd, prefix, dtype, devices.offload_device(), where, storage)
    return build_module(factory, sd, prefix, dtype, devices.offload_device(), where)


def load_unet_from_state_dict(sd, where: str, metadata=None, path=None, dtype: torch.dtype | None = None,
                              name: str = "", config: detection.ModelConfig | None = None,
                              weight_dtype: str = "default") -> ModelHandle:
    """``weight_dtype``: UNETLoader's ``default`` / ``fp8_e4m3fn`` / ``fp8_e4m3fn_fast`` / ``fp8_e5m2``
    (a file already in fp8 stays in fp8 with ``default``)."""
    from core.models.fp8 import storage_for

    cfg = config or detection.detect(sd, metadata, path, name=where)
    prefix = cfg.extra["unet_prefix"]
    dtype = _load_dtype(dtype, devices.unet_dtype)
    if weight_dtype == "default":
        weight_dtype = devices.unet_weight_storage()  # --fp8_e4m3fn-unet / --fp8_e5m2-unet
    if cfg.family == "flux2":  # FLUX.2 dequantizes its fp8 files on load (flux2_loading.py)
        from core.models.flux2_loading import load_flux2

        if weight_dtype != "default":
            log.warning("%s: fp8 weight storage is not available for FLUX.2 yet; loading in %s", where, dtype)
        return load_flux2(sd, cfg, prefix, dtype, where, name)
    storage = storage_for(sd, prefix, weight_dtype, where)
    if cfg.prediction == "flow":
        return _load_flow_model(sd, cfg, prefix, dtype, where, name, storage)
    unet = _build(lambda: UNetModel(cfg.unet), sd, prefix, dtype, f"{where} (U-Net)", storage)
    log.info("%s: %s %s-prediction U-Net, %s", where, cfg.family, cfg.prediction, dtype)
    return ModelHandle(unet, cfg, for_family(cfg.family), name=name)


def _load_flow_model(sd, cfg, prefix: str, dtype, where: str, name: str, storage=None) -> ModelHandle:
    from core.models.flux import Flux
    from core.sampling.model_sampling import default_for_family

    if cfg.family == "sd3":
        return _load_sd3(sd, cfg, prefix, dtype, where, name, storage)
    if cfg.family == "z_image":
        if storage is not None and storage.active:
            # zimage.py's timestep embedder casts to its first Linear's weight dtype, which would be 8-bit
            log.warning("%s: fp8 weight storage is not available for Z-Image yet; loading in %s", where, dtype)
        return _load_zimage(sd, cfg, prefix, dtype, where, name)
    if cfg.family == "qwen_image":
        if storage is not None and storage.active:
            log.warning("%s: fp8 weight storage is not available for Qwen-Image yet; loading in %s", where, dtype)
        return _load_qwen_image(sd, cfg, prefix, dtype, where, name)
    net = _build(lambda: Flux(cfg.unet), sd, prefix, dtype, f"{where} (FLUX)", storage)
    c = cfg.unet
    log.info("%s: %s transformer (%d double + %d single blocks, width %d), %s", where, cfg.family, c.depth,
             c.depth_single_blocks, c.hidden_size, dtype)
    model = ModelHandle(net, cfg, for_family(cfg.family), name=name)
    model.model_sampling = default_for_family(cfg.family)
    return model


def _load_sd3(sd, cfg, prefix: str, dtype, where: str, name: str, storage=None) -> ModelHandle:
    """SD3 / SD3.5 MM-DiT: flow model, ModelSamplingSD3's default shift 3.0, SD3 latent format (16 ch)."""
    from core.models.mmdit import MMDiT
    from core.sampling.model_sampling import default_for_family

    net = _build(lambda: MMDiT(cfg.unet), sd, prefix, dtype, f"{where} (MM-DiT)", storage)
    c = cfg.unet
    log.info("%s: %s MM-DiT (%d joint blocks, width %d%s), %s", where, cfg.extra["variant"], c.depth,
             c.hidden_size, f", MMDiT-X layers {list(c.x_block_self_attn_layers)}" if c.x_block_self_attn_layers else "",
             dtype)
    model = ModelHandle(net, cfg, for_family(cfg.family), name=name)
    model.model_sampling = default_for_family(cfg.family)
    return model


def _load_qwen_image(sd, cfg, prefix: str, dtype, where: str, name: str) -> ModelHandle:
    from core.models.qwen_image import QwenImageTransformer
    from core.sampling.model_sampling import FlowSchedule

    net = build_module(lambda: QwenImageTransformer(cfg.unet), sd, prefix, dtype, devices.offload_device(),
                       f"{where} (Qwen-Image)")
    log.info("%s: Qwen-Image transformer (%d blocks, width %d), %s", where, cfg.unet.num_layers,
             cfg.unet.inner_dim, dtype)
    model = ModelHandle(net, cfg, for_family(cfg.family), name=name)
    # ComfyUI's QwenImage model sampling: discrete flow, shift 1.15, timestep = sigma (multiplier 1);
    # its templates replace it with ModelSamplingAuraFlow(shift 3.1)
    model.model_sampling = FlowSchedule(1.15, multiplier=1.0)
    return model


def _load_zimage(sd, cfg, prefix: str, dtype, where: str, name: str) -> ModelHandle:
    """Z-Image: flow model, ComfyUI's ZImage defaults (shift 3, multiplier 1), FLUX latent format (16 ch)."""
    from core.models.zimage import ZImage
    from core.sampling.model_sampling import default_for_family

    if dtype == torch.float16 and not (devices.settings.fp16_unet or devices.settings.force_fp16):
        # released in bfloat16, and ComfyUI's ZImage lists only bf16 and fp32 as inference dtypes
        bf16 = devices.get_torch_device().type == "cuda" and torch.cuda.is_bf16_supported()
        dtype = torch.bfloat16 if bf16 else torch.float32
    c = cfg.unet
    net = build_module(lambda: ZImage(c), _zimage_tensors(sd, prefix, dtype), prefix, dtype,
                       devices.offload_device(), f"{where} (Z-Image)")
    log.info("%s: Z-Image transformer (%d layers, width %d), %s", where, c.n_layers, c.dim, dtype)
    model = ModelHandle(net, cfg, for_family(cfg.family), name=name)
    model.model_sampling = default_for_family(cfg.family)
    return model


def _zimage_tensors(sd, prefix: str, dtype) -> dict:
    """A Z-Image file's tensors as the network takes them: a top-level ``norm_final.weight`` some files
    carry is never read (diffusers' converter drops it too); fp8 files (plain or ComfyUI's scaled fp8) are
    dequantized to ``dtype`` on load, as the network has no fp8 compute path."""
    key = f"{prefix}norm_final.weight"
    if key in sd:
        sd = {k: v for k, v in sd.items() if k != key}
    if any(v.dtype in (torch.float8_e4m3fn, torch.float8_e5m2) for v in sd.values()):
        from core.models.qwen3_text import dequantize

        sd = dequantize(sd, dtype)
    return sd


class MissingClip:
    """Stands for the CLIP output when the text encoder cannot be loaded: any use raises why."""

    def __init__(self, reason: str):
        self.reason = reason

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        raise RuntimeError(self.reason)


@without_gc
def load_checkpoint(path, output_clip: bool = True, output_vae: bool = True, unet_dtype: torch.dtype | None = None,
                    clip_dtype: torch.dtype | None = None, vae_dtype: torch.dtype | None = None,
                    unet_weight_dtype: str = "default"):
    """(ModelHandle, ClipHandle | MissingClip | None, VaeHandle | None) from one checkpoint file;
    ``unet_weight_dtype`` as UNETLoader's ``weight_dtype`` (fp8 storage, fp8.py)."""
    path = Path(path)
    sd, metadata = load_file(path)
    return _load_checkpoint_sd(sd, metadata, path, output_clip, output_vae, unet_dtype, clip_dtype, vae_dtype,
                               unet_weight_dtype)


@without_gc
def load_unclip_checkpoint(path, unet_dtype: torch.dtype | None = None):
    """(MODEL, CLIP, VAE, CLIP_VISION) of an SD2 unCLIP checkpoint: the image tower it carries under
    ``embedder.model.visual.`` (OpenCLIP layout) becomes the CLIP_VISION; None when the file has none."""
    from core.models import clip_vision
    from core.models.unclip import openclip_visual_to_transformers

    path = Path(path)
    sd, metadata = load_file(path)
    model, clip, vae = _load_checkpoint_sd(sd, metadata, path, True, True, unet_dtype, None, None)
    vision = None
    if f"{detection.UNCLIP_VISION_PREFIX}conv1.weight" in sd:
        weights = openclip_visual_to_transformers(sd, detection.UNCLIP_VISION_PREFIX)
        vision = clip_vision.load_state_dict(weights, f"checkpoint {path.name} (image encoder)")
    else:
        log.warning("checkpoint %s: no CLIP image encoder ('%sconv1.weight'); CLIP_VISION output is empty",
                    path.name, detection.UNCLIP_VISION_PREFIX)
    return model, clip, vae, vision


def _load_checkpoint_sd(sd, metadata, path: Path, output_clip: bool, output_vae: bool, unet_dtype, clip_dtype,
                        vae_dtype, unet_weight_dtype: str = "default"):
    where = f"checkpoint {path.name}"
    config = detection.detect(sd, metadata, path, name=where)
    bundled_vae = detection.vae_prefix(sd)
    if output_vae and bundled_vae not in ("first_stage_model.", "vae."):
        raise WeightsError(f"{where}: no VAE in this file (no 'first_stage_model.*' or 'vae.*' keys); "
                           "load one with VAELoader")
    model = load_unet_from_state_dict(sd, where, metadata, path, dtype=unet_dtype, name=path.stem, config=config,
                                      weight_dtype=unet_weight_dtype)
    family = model.config.family

    vae = None
    if output_vae:
        vae = load_vae_from_state_dict(sd, bundled_vae, where, dtype=vae_dtype, name=path.stem)

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
            if family == "sd3":
                clip = _sd3_clip(clip_from_checkpoint, sd, dtype, where, model.config.text_encoders)
            else:
                clip = clip_from_checkpoint(sd, family, dtype=dtype, device=devices.offload_device())
    return model, clip, vae


def _sd3_clip(clip_from_checkpoint, sd, dtype, where: str, encoders: tuple):
    """The text encoders an SD3.5 file bundles, or a MissingClip saying why they cannot be used: the model
    and VAE still load, and a workflow that encodes with TripleCLIPLoader/CLIPLoader still runs."""
    try:
        return clip_from_checkpoint(sd, "sd3", dtype=dtype, device=devices.offload_device())
    except (ValueError, KeyError, NotImplementedError) as e:
        log.warning("%s: bundled SD3 text encoders (%s) not loaded: %s", where, ", ".join(encoders), e)
        return MissingClip(f"{where}: the bundled SD3 text encoders ({', '.join(encoders)}) could not be loaded "
                           f"({e}); load them with TripleCLIPLoader (clip_l, clip_g, t5xxl) instead")


@without_gc
def load_unet(path, dtype: torch.dtype | None = None, weight_dtype: str = "default") -> ModelHandle:
    """A U-Net-only file (``diffusion_models`` folder), with or without the ``model.diffusion_model.`` prefix;
    ``weight_dtype`` as UNETLoader's input (fp8 storage, core/models/fp8.py)."""
    path = Path(path)
    sd, metadata = load_file(path)
    return load_unet_from_state_dict(sd, f"diffusion model {path.name}", metadata, path, dtype=dtype, name=path.stem,
                                     weight_dtype=weight_dtype)


@without_gc
def load_vae(path, dtype: torch.dtype | None = None) -> VaeHandle:
    """A standalone VAE file (LDM layout, bare or under ``first_stage_model.``/``vae.``) or a checkpoint's VAE:
    the 4-channel SD VAEs and the 16-channel SD3/FLUX ones (``ae.safetensors``, no quant convs)."""
    path = Path(path)
    where = f"VAE {path.name}"
    sd, _metadata = load_file(path)
    from core.models import vae_flux2

    if vae_flux2.is_flux2_vae(sd):
        return vae_flux2.load(sd, where, dtype or devices.vae_dtype(), path.stem)
    prefix = detection.vae_prefix(sd)
    if prefix is None and vae_wan.is_wan_vae(sd):  # Qwen-Image / Wan 2.1 VAE
        return vae_wan.load_from_state_dict(sd, where, dtype=dtype, name=path.stem)
    if prefix is None:
        hint = " (diffusers-format VAE files are not supported; use the single-file LDM layout)" \
            if "decoder.up_blocks.0.resnets.0.conv1.weight" in sd else ""
        raise WeightsError(f"{where}: no KL-f8 VAE found (expected 'encoder.conv_in.weight', 'decoder.conv_in.weight' "
                           f"and 'decoder.mid.block_1.conv1.weight', optionally under 'first_stage_model.' or "
                           f"'vae.'){hint}")
    return load_vae_from_state_dict(sd, prefix, where, dtype=dtype, name=path.stem)
