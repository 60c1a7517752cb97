"""ComfyUI's ``comfy.sd`` for custom node packs: checkpoint, CLIP, VAE and LoRA loading onto our models.

``CLIP`` and ``VAE`` are our ClipHandle and VaeHandle (ComfyUI's method names live on them, see
core/models/comfy_methods.py), so ``isinstance(x, comfy.sd.VAE)`` holds for values from our loaders
too. Constructing ``VAE(sd=...)`` / ``CLIP(...)`` from a state dict is done by our loaders.
"""
from __future__ import annotations

import enum
import logging

from core.compat.missing import module_getattr

log = logging.getLogger(__name__)


class CLIPType(enum.Enum):
    """ComfyUI's text-encoder types (values as in ComfyUI); those in text_encoder.CLIP_TYPES load here."""

    STABLE_DIFFUSION = 1
    STABLE_CASCADE = 2
    SD3 = 3
    STABLE_AUDIO = 4
    HUNYUAN_DIT = 5
    FLUX = 6
    MOCHI = 7
    LTXV = 8
    HUNYUAN_VIDEO = 9
    PIXART = 10
    COSMOS = 11
    LUMINA2 = 12
    WAN = 13
    HIDREAM = 14
    CHROMA = 15
    ACE = 16
    OMNIGEN2 = 17
    QWEN_IMAGE = 18


class TEModel(enum.Enum):
    CLIP_L = 1
    CLIP_H = 2
    CLIP_G = 3


class _HandleMeta(type):
    """``isinstance(value, comfy.sd.VAE)`` is true for our handle class (values from our loaders)."""

    def __instancecheck__(cls, obj):
        return isinstance(obj, cls._handle_class())

    def __subclasscheck__(cls, sub):
        return issubclass(sub, cls._handle_class())


class VAE(metaclass=_HandleMeta):
    """``comfy.sd.VAE(sd=state_dict)``: a VaeHandle built from a VAE state dict (LDM layout)."""

    @staticmethod
    def _handle_class():
        from core.models.handles import VaeHandle

        return VaeHandle

    def __new__(cls, sd=None, device=None, config=None, dtype=None, metadata=None):
        from core.models import detection
        from core.models.checkpoint import load_vae_from_state_dict

        if sd is None:
            raise ValueError("comfy.sd.VAE: Latentflow builds a VAE from its weights; pass sd=state_dict")
        prefix = detection.vae_prefix(sd)
        if prefix is None:
            raise ValueError("comfy.sd.VAE: the state dict is not a KL-f8 VAE in the LDM layout "
                             "(expected 'decoder.conv_in.weight'); TAESD and video VAEs are not supported")
        vae = load_vae_from_state_dict(sd, prefix, "comfy.sd.VAE", dtype=dtype)
        if device is not None:
            vae.device = device
        return vae


class CLIP(metaclass=_HandleMeta):
    """``comfy.sd.CLIP``: our ClipHandle; make one with :func:`load_clip` or a checkpoint loader."""

    @staticmethod
    def _handle_class():
        from core.models.text_encoder import ClipHandle

        return ClipHandle

    def __new__(cls, *args, **kwargs):
        from core.compat.missing import UnsupportedComfyAPI, message

        raise UnsupportedComfyAPI(message("comfy.sd.CLIP(target, ...)", "Latentflow builds CLIP objects from "
                                          "weight files: use comfy.sd.load_clip or load_checkpoint_guess_config"))


def load_checkpoint_guess_config(ckpt_path, output_vae=True, output_clip=True, output_clipvision=False,
                                 embedding_directory=None, output_model=True, model_options=None,
                                 te_model_options=None, metadata=None):
    """``(model, clip, vae, clipvision)`` from a single-file checkpoint (clip vision: always None)."""
    from core.models.checkpoint import load_checkpoint
    from core.models.fp8 import from_model_options

    unet_dtype, weight_dtype = from_model_options(model_options)
    model, clip, vae = load_checkpoint(ckpt_path, output_clip=output_clip, output_vae=output_vae,
                                       unet_dtype=unet_dtype, unet_weight_dtype=weight_dtype)
    if clip is not None and embedding_directory is not None and hasattr(clip, "embedding_dirs"):
        dirs = embedding_directory
        clip.embedding_dirs = [dirs] if isinstance(dirs, str) else list(dirs)
    if output_clipvision:
        log.warning("comfy.sd.load_checkpoint_guess_config: CLIP vision from checkpoints is not supported; None")
    return (model if output_model else None), clip, vae, None


def load_checkpoint(config_path=None, ckpt_path=None, output_vae=True, output_clip=True, embedding_directory=None,
                    state_dict=None, config=None):
    """The old config-file loader: the config is not needed (architectures are detected from weights)."""
    model, clip, vae, _ = load_checkpoint_guess_config(ckpt_path, output_vae, output_clip,
                                                       embedding_directory=embedding_directory)
    return model, clip, vae


def load_lora_for_models(model, clip, lora, strength_model, strength_clip):
    """``(model', clip')``: clones with the LoRA state dict's patches (core.models.lora)."""
    from core.models.lora import load_lora_for_models as load

    new_model, new_clip, _unmatched = load(model, clip, lora, strength_model, strength_clip, name="LoRA (plugin)")
    return new_model, new_clip


def load_clip(ckpt_paths, embedding_directory=None, clip_type=CLIPType.STABLE_DIFFUSION, model_options=None):
    """CLIPLoader / DualCLIPLoader / TripleCLIPLoader: ``clip_type`` picks the type as in ComfyUI (two files
    of type STABLE_DIFFUSION are SDXL, three files are SD3); core.models.text_encoder.CLIP_TYPES says which load."""
    from core.models.text_encoder import CLIP_TYPES, clip_from_files

    paths = list(ckpt_paths) if isinstance(ckpt_paths, (list, tuple)) else [ckpt_paths]
    kind = getattr(clip_type, "name", str(clip_type)).lower()
    if len(paths) == 3:
        kind = "sd3"
    elif kind == "stable_diffusion" and len(paths) == 2:
        kind = "sdxl"
    if kind not in CLIP_TYPES:
        raise ValueError(f"comfy.sd.load_clip: text encoder type {getattr(clip_type, 'name', clip_type)} is not "
                         f"supported (supported: {', '.join(CLIP_TYPES)})")
    dirs = None if embedding_directory is None else (
        [embedding_directory] if isinstance(embedding_directory, str) else list(embedding_directory))
    return clip_from_files(paths, kind, embedding_dirs=dirs)


def load_diffusion_model(unet_path, model_options=None):
    """A diffusion-model file; an 8-bit ``model_options["dtype"]`` stores the weights in fp8 (core/models/fp8.py)."""
    from core.models.checkpoint import load_unet as load
    from core.models.fp8 import from_model_options

    dtype, weight_dtype = from_model_options(model_options)
    return load(unet_path, dtype=dtype, weight_dtype=weight_dtype)


def load_unet(unet_path, dtype=None):
    return load_diffusion_model(unet_path, {"dtype": dtype} if dtype is not None else None)


def load_diffusion_model_state_dict(sd, model_options=None):
    from core.models.checkpoint import load_unet_from_state_dict

    from core.models.fp8 import from_model_options

    dtype, weight_dtype = from_model_options(model_options)
    return load_unet_from_state_dict(sd, "diffusion model (plugin state dict)", dtype=dtype, weight_dtype=weight_dtype)


load_unet_state_dict = load_diffusion_model_state_dict


def save_checkpoint(output_path, model, clip=None, vae=None, clip_vision=None, metadata=None, extra_keys=None):
    from core.models.weights import save_safetensors

    sd = dict(model.model_state_dict())
    if clip is not None:
        sd.update(clip.state_dict())
    if vae is not None:
        sd.update({"first_stage_model." + k: v for k, v in vae.get_sd().items()})
    sd.update(extra_keys or {})
    save_safetensors({k: v.contiguous() for k, v in sd.items()}, output_path, metadata=metadata)


__getattr__ = module_getattr(__name__)
