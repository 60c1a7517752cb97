"""Small API-format workflows, one per real pack, using a few of its simpler nodes (scripts/check_packs.py).

Only node names and input names of the packs appear here (their public interface); inputs left out
are filled from /object_info: the declared default, else the first choice of a combo.
"""
from __future__ import annotations

CKPT = "tiny_sd15.safetensors"


def base(seed=("seed", 3), steps=2, latent=("4", 0), model=("1", 0), clip=("1", 1)) -> dict:
    """Checkpoint -> prompts -> KSampler -> VAEDecode with built-in nodes (ids 1..6)."""
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": CKPT}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"clip": list(clip), "text": "a cat"}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"clip": list(clip), "text": ""}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "5": {"class_type": "KSampler", "inputs": {
            "model": list(model), seed[0]: seed[1] if not isinstance(seed[1], tuple) else list(seed[1]),
            "steps": steps if not isinstance(steps, tuple) else list(steps), "cfg": 5.0, "sampler_name": "euler",
            "scheduler": "normal", "positive": ["2", 0], "negative": ["3", 0], "latent_image": list(latent),
            "denoise": 1.0}},
        "6": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["1", 2]}},
    }


def _with(prompt: dict, **nodes) -> dict:
    prompt.update(nodes)
    return prompt


def custom_scripts() -> dict:
    p = base(steps=("11", 0), model=("10", 0), clip=("10", 1))
    del p["1"]
    p["6"]["inputs"]["vae"] = ["10", 2]
    return _with(p,
                 **{"10": {"class_type": "CheckpointLoader|pysssss", "inputs": {"ckpt_name": CKPT}},
                    "11": {"class_type": "MathExpression|pysssss", "inputs": {"expression": "1 + 1"}},
                    "12": {"class_type": "ConstrainImage|pysssss", "inputs": {"images": ["6", 0], "max_width": 32,
                                                                              "max_height": 32}},
                    "13": {"class_type": "PreviewImage", "inputs": {"images": ["12", 0]}}})


def essentials() -> dict:
    return _with(base(),
                 **{"10": {"class_type": "ImageResize+", "inputs": {"image": ["6", 0], "width": 48, "height": 40,
                                                                    "method": "stretch", "condition": "always"}},
                    "11": {"class_type": "ImageFlip+", "inputs": {"image": ["10", 0], "axis": "x"}},
                    "12": {"class_type": "ImageDesaturate+", "inputs": {"image": ["11", 0], "factor": 0.5}},
                    "13": {"class_type": "GetImageSize+", "inputs": {"image": ["12", 0]}},
                    "14": {"class_type": "SimpleMath+", "inputs": {"value": "a * 2", "a": ["13", 0]}},
                    "15": {"class_type": "ImageResize+", "inputs": {"image": ["12", 0], "width": ["14", 0],
                                                                    "height": 40, "method": "stretch",
                                                                    "condition": "always"}},
                    "16": {"class_type": "PreviewImage", "inputs": {"images": ["15", 0]}}})


def rgthree() -> dict:
    p = base(seed=("seed", ("10", 0)), model=("11", 0), clip=("11", 1))
    return _with(p,
                 **{"10": {"class_type": "Seed (rgthree)", "inputs": {"seed": 5}},
                    "11": {"class_type": "Power Lora Loader (rgthree)", "inputs": {"model": ["1", 0],
                                                                                    "clip": ["1", 1]}},
                    "12": {"class_type": "Display Any (rgthree)", "inputs": {"source": ["10", 0]}},
                    "13": {"class_type": "PreviewImage", "inputs": {"images": ["6", 0]}}})


def efficiency() -> dict:
    return {
        "1": {"class_type": "Efficient Loader", "inputs": {
            "ckpt_name": CKPT, "vae_name": "Baked VAE", "clip_skip": -1, "lora_name": "None",
            "positive": "a cat", "negative": "", "empty_latent_width": 64, "empty_latent_height": 64}},
        "2": {"class_type": "KSampler (Efficient)", "inputs": {
            "model": ["1", 0], "seed": 3, "steps": 2, "cfg": 5.0, "sampler_name": "euler", "scheduler": "normal",
            "positive": ["1", 1], "negative": ["1", 2], "latent_image": ["1", 3], "denoise": 1.0,
            "preview_method": "none", "vae_decode": "true", "optional_vae": ["1", 4]}},
        "3": {"class_type": "PreviewImage", "inputs": {"images": ["2", 5]}},
    }


def ultimate_sd_upscale() -> dict:
    return _with(base(),
                 **{"9": {"class_type": "ImageScale", "inputs": {"image": ["6", 0], "upscale_method": "bilinear",
                                                                 "width": 128, "height": 128, "crop": "disabled"}},
                    "10": {"class_type": "UltimateSDUpscaleNoUpscale", "inputs": {
                     "upscaled_image": ["9", 0], "model": ["1", 0], "positive": ["2", 0], "negative": ["3", 0],
                     "vae": ["1", 2], "seed": 1, "steps": 2, "cfg": 5.0, "sampler_name": "euler",
                     "scheduler": "normal", "denoise": 0.3, "tile_width": 64, "tile_height": 64, "mask_blur": 4,
                     "tile_padding": 8, "seam_fix_mode": "None"}},
                    "11": {"class_type": "PreviewImage", "inputs": {"images": ["10", 0]}}})


def was() -> dict:
    p = base()
    p["5"] = {"class_type": "KSampler (WAS)", "inputs": {
        "model": ["1", 0], "seed": ["10", 0], "steps": 2, "cfg": 5.0, "sampler_name": "euler", "scheduler": "normal",
        "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["4", 0], "denoise": 1.0}}
    return _with(p,
                 **{"10": {"class_type": "Seed", "inputs": {"seed": 4}},
                    "11": {"class_type": "Image Blend", "inputs": {"image_a": ["6", 0], "image_b": ["6", 0],
                                                                   "blend_percentage": 0.5}},
                    "12": {"class_type": "PreviewImage", "inputs": {"images": ["11", 0]}}})


def comfyroll() -> dict:
    p = base(seed=("seed", ("10", 0)), latent=("12", 5))
    return _with(p,
                 **{"10": {"class_type": "CR Seed", "inputs": {"seed": 9}},
                    "11": {"class_type": "CR Integer Multiple", "inputs": {"integer": 60, "multiple": 8}},
                    "12": {"class_type": "CR Aspect Ratio", "inputs": {"width": ["11", 0], "height": 64,
                                                                       "aspect_ratio": "custom"}},
                    "13": {"class_type": "CR Image Output", "inputs": {"images": ["6", 0],
                                                                       "output_type": "Preview"}}})


def kjnodes() -> dict:
    return _with(base(),
                 **{"10": {"class_type": "ImageResizeKJv2", "inputs": {"image": ["6", 0], "width": 48, "height": 48}},
                    "11": {"class_type": "GetImageSizeAndCount", "inputs": {"image": ["10", 0]}},
                    "12": {"class_type": "PreviewImage", "inputs": {"images": ["11", 0]}}})


WORKFLOWS = {
    "ComfyUI-Custom-Scripts": custom_scripts, "ComfyUI_essentials": essentials, "rgthree-comfy": rgthree,
    "efficiency-nodes-comfyui": efficiency, "ComfyUI_UltimateSDUpscale": ultimate_sd_upscale,
    "was-node-suite-comfyui": was, "ComfyUI_Comfyroll_CustomNodes": comfyroll, "ComfyUI-KJNodes": kjnodes,
}


def fill_defaults(registry, prompt: dict) -> dict:
    """Inputs a workflow leaves out get their declared default, else a combo's first choice."""
    for node in prompt.values():
        cls = registry.get(node["class_type"])
        if cls is None:
            continue
        for name, spec in cls.INPUT_TYPES().get("required", {}).items():
            if name in node["inputs"] or not isinstance(spec, (list, tuple)) or not spec:
                continue
            options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
            if isinstance(spec[0], (list, tuple)) and spec[0]:  # a default outside the choices: the first, as the UI
                default = options.get("default")
                node["inputs"][name] = default if default in spec[0] else spec[0][0]
            elif "default" in options:
                node["inputs"][name] = options["default"]
    return prompt
