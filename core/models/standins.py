"""Tiny seeded stand-ins for the model files a workflow names, so real workflows run on a CPU in seconds.

Test and measurement support (tests, scripts/count_templates.py), never used by the app. Every loader
input of a prompt that names a model file gets a tiny file of the right family under that name,
chosen from the file name the way a user's folder would hold it (``flux1-dev.safetensors``,
``t5xxl_fp16.safetensors``, ``qwen_image_vae.safetensors`` ...). The tiny families of one kind agree
with each other (a tiny T5's width is the tiny FLUX's context width, a tiny 16-channel VAE fits every
16-channel tiny DiT), so any combination a template wires together runs.

:func:`provision` writes the files and LoadImage inputs; it returns the reasons for what it could not
stand in for (an empty list when the prompt is fully provided for).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

# loader class -> (input name, models folder) of each file it loads
LOADER_INPUTS: dict[str, tuple[tuple[str, str], ...]] = {
    "CheckpointLoaderSimple": (("ckpt_name", "checkpoints"),),
    "CheckpointLoader": (("ckpt_name", "checkpoints"),),
    "unCLIPCheckpointLoader": (("ckpt_name", "checkpoints"),),
    "ImageOnlyCheckpointLoader": (("ckpt_name", "checkpoints"),),
    "UNETLoader": (("unet_name", "diffusion_models"),),
    "CLIPLoader": (("clip_name", "text_encoders"),),
    "DualCLIPLoader": (("clip_name1", "text_encoders"), ("clip_name2", "text_encoders")),
    "TripleCLIPLoader": (("clip_name1", "text_encoders"), ("clip_name2", "text_encoders"),
                         ("clip_name3", "text_encoders")),
    "VAELoader": (("vae_name", "vae"),),
    "LoraLoader": (("lora_name", "loras"),),
    "LoraLoaderModelOnly": (("lora_name", "loras"),),
    "ControlNetLoader": (("control_net_name", "controlnet"),),
    "DiffControlNetLoader": (("control_net_name", "controlnet"),),
    "CLIPVisionLoader": (("clip_name", "clip_vision"),),
    "StyleModelLoader": (("style_model_name", "style_models"),),
    "GLIGENLoader": (("gligen_name", "gligen"),),
    "UpscaleModelLoader": (("model_name", "upscale_models"),),
}
IMAGE_LOADERS = {"LoadImage": "image", "LoadImageMask": "image"}


@dataclass(frozen=True)
class Rule:
    """Files in ``folder`` whose lower-cased name matches ``pattern`` are written by ``write(path, prompt)``."""

    folder: str
    pattern: str
    write: Callable[[Path, dict], object]
    what: str


def _sd_family(name: str) -> str:
    low = name.lower()
    if "refiner" in low:
        return "sdxl_refiner"
    if "xl" in low:
        return "sdxl"
    if "inpaint" in low:
        return "sd15_inpaint"
    if any(tag in low for tag in ("v2-", "768", "sd21", "2.1")):
        return "sd21v"
    return "sd15"


def _sd_checkpoint(path: Path, prompt: dict) -> None:
    from core.models.tiny import write_tiny_checkpoint

    write_tiny_checkpoint(path, _sd_family(path.name))


def _clip_vision(path: Path, prompt: dict) -> None:
    from core.models.tiny import write_tiny_clip_vision

    write_tiny_clip_vision(path)


def _text_encoder(path: Path, prompt: dict) -> None:
    from core.models.tiny import write_tiny_text_encoder

    write_tiny_text_encoder(path)  # clip_l / clip_g / t5xxl (fp16, or scaled fp8 when the name says fp8)


def _sd3_variant(name: str) -> str:
    low = name.lower()
    if "sd3.5" in low or "sd35" in low or "3.5" in low:
        return "sd35_medium" if "medium" in low else "sd35_large"
    return "sd3_medium"  # SD3 Medium (3.0): sd3_medium_incl_clips.safetensors ...


def _sd3(path: Path, prompt: dict) -> None:
    from core.models.tiny import write_tiny_sd3_for_templates

    write_tiny_sd3_for_templates(path, _sd3_variant(path.name), unet_only=path.parent.name == "diffusion_models")


def _sd3_controlnet(path: Path, prompt: dict) -> None:
    from dataclasses import replace

    from core.models.tiny import (TINY_SD3_POOLED, TINY_T5_WIDTH, save_safetensors, tiny_mmdit_config,
                                  tiny_sd3_controlnet_state_dict)

    low = path.name.lower()
    kind = next((k for k in ("blur", "canny", "depth") if k in low), "canny")
    cfg = replace(tiny_mmdit_config("sd35_large"), context_in_dim=TINY_T5_WIDTH, pooled_dim=TINY_SD3_POOLED)
    save_safetensors(tiny_sd3_controlnet_state_dict(cfg, kind=kind), path)


# DiT file names: a name matching one of these is never mistaken for an SD checkpoint
DIT_TAGS = ("sd3", "flux", "hidream", "qwen", "lumina", "z_image", "chroma", "hunyuan", "wan", "ltx", "t5xxl",
            "clip_l", "clip_g", "mistral")

def _qwen_image(path: Path, prompt: dict) -> None:
    from core.models.tiny import write_tiny_qwen_image

    write_tiny_qwen_image(path)


def _qwen25_vl(path: Path, prompt: dict) -> None:
    from core.models.tiny import write_tiny_qwen25_vl

    write_tiny_qwen25_vl(path, fp8_scaled="fp8_scaled" in path.name.lower())


def _qwen_image_vae(path: Path, prompt: dict) -> None:
    from core.models.tiny import write_tiny_qwen_image_vae

    write_tiny_qwen_image_vae(path)


def _qwen_image_lora(path: Path, prompt: dict) -> None:
    from core.models.tiny import write_tiny_qwen_image_lora

    write_tiny_qwen_image_lora(path)


def _flux2(path: Path, prompt: dict) -> None:
    from core.models.tiny import write_tiny_flux2

    write_tiny_flux2(path, "dev" if "dev" in path.name.lower() else "klein")


def _flux2_vae(path: Path, prompt: dict) -> None:
    from core.models.tiny import write_tiny_flux2_vae

    write_tiny_flux2_vae(path)


def _zimage(path: Path, prompt: dict) -> None:
    from core.models.tiny import write_tiny_zimage

    write_tiny_zimage(path)


def _qwen3(path: Path, prompt: dict) -> None:
    """Qwen3 of the tiny width 32 (the tiny Z-Image's caption width); deep enough for FLUX.2 [klein]'s
    layer 27 when a CLIPLoader of type flux2 loads this file."""
    from core.models.tiny import write_tiny_qwen3

    klein = any(n.get("class_type") == "CLIPLoader" and n.get("inputs", {}).get("clip_name") == path.name
                and n.get("inputs", {}).get("type") == "flux2" for n in prompt.values())
    write_tiny_qwen3(path, layers=28 if klein else 2)


def _mistral(path: Path, prompt: dict) -> None:
    """Mistral-Small-3.2 of the tiny width 32 (3 x 32 stacked features, the tiny FLUX.2 [dev]'s context width)."""
    from core.models.tiny import write_tiny_mistral_flux2

    write_tiny_mistral_flux2(path)


def _flux_kind(name: str) -> str:
    low = name.lower()
    return next((k for k in ("schnell", "fill", "kontext") if k in low), "dev")


def _flux1(path: Path, prompt: dict) -> None:
    from core.models.tiny import write_tiny_flux

    write_tiny_flux(path, _flux_kind(path.name))


def _flux1_checkpoint(path: Path, prompt: dict) -> None:
    """``flux1-dev-fp8.safetensors``-style single file: the transformer, the ``ae`` VAE and CLIP-L + T5."""
    from core.models.tiny import (save_safetensors, tiny_bundled_text_encoders, tiny_flux_state_dict,
                                  tiny_vae16_state_dict)

    sd = tiny_flux_state_dict(_flux_kind(path.name), prefix="model.diffusion_model.")
    sd.update(tiny_vae16_state_dict(prefix="vae."))
    sd.update(tiny_bundled_text_encoders(("clip_l", "t5xxl")))
    save_safetensors(sd, path)


def _vae16(path: Path, prompt: dict) -> None:
    from core.models.tiny import write_tiny_vae16

    write_tiny_vae16(path)


RULES: list[Rule] = [
    Rule("diffusion_models", r"flux1|flux\.1|flux-1", _flux1, "tiny FLUX.1 transformer (dev, schnell, fill, kontext)"),
    Rule("checkpoints", r"flux1|flux\.1|flux-1", _flux1_checkpoint, "tiny FLUX.1 checkpoint (transformer, ae VAE, CLIP-L, T5)"),
    Rule("vae", r"^ae\.safetensors$|^ae\.sft$|flux1?[-_]?vae|sd3[^/]*vae|sd35[^/]*vae", _vae16, "tiny 16-channel VAE (FLUX.1 ae, SD3)"),
    # FLUX.2: flux-2-klein-4b.safetensors, flux-2-klein-base-9b-fp8, flux2_dev_fp8mixed; its VAE files
    Rule("diffusion_models", r"flux-?2", _flux2, "tiny FLUX.2 transformer (klein, or dev when named so)"),
    Rule("vae", r"flux-?2|full_encoder_small_decoder", _flux2_vae, "tiny FLUX.2 VAE"),
    Rule("clip_vision", r".*", _clip_vision, "tiny CLIP vision model"),
    Rule("diffusion_models", r"qwen[-_]?image", _qwen_image, "tiny Qwen-Image transformer"),
    Rule("text_encoders", r"qwen[-_]?2\.5[-_]?vl", _qwen25_vl, "tiny Qwen2.5-VL text encoder"),
    Rule("vae", r"qwen[-_]?image[-_]?vae|wan[-_]?2\.1[-_]?vae", _qwen_image_vae, "tiny Wan 2.1 / Qwen-Image VAE"),
    Rule("loras", r"qwen[-_]?image", _qwen_image_lora, "tiny Qwen-Image LoRA"),
    Rule("checkpoints", r"^(?!.*(" + "|".join(DIT_TAGS) + r")).*", _sd_checkpoint, "tiny SD-family checkpoint"),
    Rule("checkpoints", r"sd3", _sd3, "tiny SD3/SD3.5 checkpoint (MM-DiT + 16-channel VAE, no text encoders)"),
    Rule("diffusion_models", r"sd3", _sd3, "tiny SD3/SD3.5 MM-DiT"),
    Rule("controlnet", r"sd3", _sd3_controlnet, "tiny SD3.5 Large ControlNet"),
    Rule("diffusion_models", r"z[_-]?image", _zimage, "tiny Z-Image transformer"),
    Rule("text_encoders", r"qwen[_-]?3", _qwen3, "tiny Qwen3 text encoder"),
    Rule("text_encoders", r"^(clip_l|clip_g|t5xxl)[^/]*\.safetensors$", _text_encoder,
         "tiny CLIP-L / OpenCLIP bigG / T5-XXL (FLUX.1, SD3.5)"),
    Rule("text_encoders", r"mistral", _mistral, "tiny Mistral-Small-3.2 text encoder (FLUX.2 [dev])"),
]


def rule_for(folder: str, name: str) -> Rule | None:
    low = name.lower()
    for rule in RULES:
        if rule.folder == folder and re.search(rule.pattern, low):
            return rule
    return None


def _write_image(path: Path, alpha: bool) -> None:
    import torch
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(len(path.name))
    pixels = (torch.rand(64, 72, 4, generator=gen) * 255).to(torch.uint8).numpy()
    pixels[:, :, 3] = 255
    if alpha:  # a transparent lower half: LoadImage's MASK output marks it for inpainting
        pixels[32:, :, 3] = 0
    image = Image.fromarray(pixels, "RGBA")
    if path.suffix.lower() in (".jpg", ".jpeg"):  # no alpha in a JPEG: no mask either
        image = image.convert("RGB")
    image.save(path)


def provision(prompt: dict, base: Path) -> list[str]:
    """Write a stand-in for every file ``prompt`` loads under ``base`` (models/<folder>/, input/);
    the reasons, one per file, for those no rule covers."""
    missing = []
    for node_id, node in prompt.items():
        kind, inputs = node.get("class_type"), node.get("inputs", {})
        if kind in IMAGE_LOADERS and isinstance(inputs.get(IMAGE_LOADERS[kind]), str):
            target = base / "input" / inputs[IMAGE_LOADERS[kind]].split("[")[0].strip()
            if not target.exists():
                _write_image(target, alpha=True)
            continue
        for input_name, folder in LOADER_INPUTS.get(kind, ()):
            name = inputs.get(input_name)
            if not isinstance(name, str):
                continue  # linked from another node: that node's file is provided for on its own
            target = base / "models" / folder / name
            if target.exists():
                continue
            rule = rule_for(folder, name)
            if rule is None:
                missing.append(f"{kind} #{node_id} {input_name}={name!r}: no tiny stand-in for models/{folder}")
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            rule.write(target, prompt)
    return missing
