"""Classic ComfyUI node definitions (docs/comfy-api.md §6) for the classes the shared workflows use.

The shared `*.api.derived.json` files were derived with these classic definitions, so the export
test feeds them to the canvas for any class the live server lacks or declares differently.
"""

SAMPLERS = ["euler", "euler_ancestral", "heun", "dpm_2", "dpm_2_ancestral", "lms", "dpmpp_2m", "ddim"]
SCHEDULERS = ["normal", "karras", "exponential", "sgm_uniform", "simple", "ddim_uniform"]
MAXR = 16384


def _i(default, lo, hi, step=1, **extra):
    return ["INT", {"default": default, "min": lo, "max": hi, "step": step, **extra}]


def _f(default, lo, hi, step=0.01):
    return ["FLOAT", {"default": default, "min": lo, "max": hi, "step": step}]


def _node(name, display, category, required, outputs, optional=None, output_names=None, output_node=False):
    inputs = {"required": required}
    order = {"required": list(required)}
    if optional:
        inputs["optional"] = optional
        order["optional"] = list(optional)
    return name, {
        "input": inputs, "input_order": order, "output": outputs,
        "output_is_list": [False] * len(outputs), "output_name": output_names or outputs,
        "name": name, "display_name": display, "description": "", "python_module": "nodes",
        "category": category, "output_node": output_node,
    }


def classic_object_info(checkpoints=("model.safetensors",)):
    """Return an /object_info-shaped dict for the classic core nodes."""
    seed = _i(0, 0, 0xFFFFFFFFFFFFFFFF, control_after_generate=True)
    ks_common = {"steps": _i(20, 1, 10000), "cfg": _f(8.0, 0.0, 100.0, 0.1),
                 "sampler_name": [SAMPLERS], "scheduler": [SCHEDULERS]}
    nodes = [
        _node("CheckpointLoaderSimple", "Load Checkpoint", "loaders",
              {"ckpt_name": [list(checkpoints)]}, ["MODEL", "CLIP", "VAE"]),
        _node("CLIPTextEncode", "CLIP Text Encode (Prompt)", "conditioning",
              {"text": ["STRING", {"multiline": True, "dynamicPrompts": True}], "clip": ["CLIP"]},
              ["CONDITIONING"]),
        _node("EmptyLatentImage", "Empty Latent Image", "latent",
              {"width": _i(512, 16, MAXR, 8), "height": _i(512, 16, MAXR, 8), "batch_size": _i(1, 1, 4096)},
              ["LATENT"]),
        _node("KSampler", "KSampler", "sampling",
              {"model": ["MODEL"], "seed": seed, **ks_common, "positive": ["CONDITIONING"],
               "negative": ["CONDITIONING"], "latent_image": ["LATENT"], "denoise": _f(1.0, 0.0, 1.0)},
              ["LATENT"]),
        _node("KSamplerAdvanced", "KSampler (Advanced)", "sampling",
              {"model": ["MODEL"], "add_noise": [["enable", "disable"]], "noise_seed": seed, **ks_common,
               "positive": ["CONDITIONING"], "negative": ["CONDITIONING"], "latent_image": ["LATENT"],
               "start_at_step": _i(0, 0, 10000), "end_at_step": _i(10000, 0, 10000),
               "return_with_leftover_noise": [["disable", "enable"]]},
              ["LATENT"]),
        _node("VAEDecode", "VAE Decode", "latent", {"samples": ["LATENT"], "vae": ["VAE"]}, ["IMAGE"]),
        _node("VAEEncode", "VAE Encode", "latent", {"pixels": ["IMAGE"], "vae": ["VAE"]}, ["LATENT"]),
        _node("VAEEncodeForInpaint", "VAE Encode (for Inpainting)", "latent/inpaint",
              {"pixels": ["IMAGE"], "vae": ["VAE"], "mask": ["MASK"], "grow_mask_by": _i(6, 0, 64)}, ["LATENT"]),
        _node("SaveImage", "Save Image", "image",
              {"images": ["IMAGE"], "filename_prefix": ["STRING", {"default": "ComfyUI"}]}, [], output_node=True),
        _node("PreviewImage", "Preview Image", "image", {"images": ["IMAGE"]}, [], output_node=True),
        _node("LoadImage", "Load Image", "image",
              {"image": [["example.png"], {"image_upload": True}]}, ["IMAGE", "MASK"]),
        _node("LoraLoader", "Load LoRA", "loaders",
              {"model": ["MODEL"], "clip": ["CLIP"], "lora_name": [["lora.safetensors"]],
               "strength_model": _f(1.0, -100.0, 100.0), "strength_clip": _f(1.0, -100.0, 100.0)},
              ["MODEL", "CLIP"]),
        _node("VAELoader", "Load VAE", "loaders", {"vae_name": [["vae.safetensors"]]}, ["VAE"]),
        _node("ControlNetLoader", "Load ControlNet Model", "loaders",
              {"control_net_name": [["cn.safetensors"]]}, ["CONTROL_NET"]),
        _node("ControlNetApplyAdvanced", "Apply ControlNet", "conditioning/controlnet",
              {"positive": ["CONDITIONING"], "negative": ["CONDITIONING"], "control_net": ["CONTROL_NET"],
               "image": ["IMAGE"], "strength": _f(1.0, 0.0, 10.0), "start_percent": _f(0.0, 0.0, 1.0, 0.001),
               "end_percent": _f(1.0, 0.0, 1.0, 0.001)},
              ["CONDITIONING", "CONDITIONING"], optional={"vae": ["VAE"]}, output_names=["positive", "negative"]),
        _node("LatentUpscale", "Upscale Latent", "latent",
              {"samples": ["LATENT"], "upscale_method": [["nearest-exact", "bilinear", "area", "bicubic", "bislerp"]],
               "width": _i(512, 0, MAXR, 8), "height": _i(512, 0, MAXR, 8), "crop": [["disabled", "center"]]},
              ["LATENT"]),
        _node("ImageScaleToTotalPixels", "Scale Image to Total Pixels", "image/upscaling",
              {"image": ["IMAGE"], "upscale_method": [["nearest-exact", "bilinear", "area", "bicubic", "lanczos"]],
               "megapixels": _f(1.0, 0.01, 16.0)}, ["IMAGE"]),
        _node("Canny", "Canny", "image/preprocessors",
              {"image": ["IMAGE"], "low_threshold": _f(0.4, 0.01, 0.99), "high_threshold": _f(0.8, 0.01, 0.99)},
              ["IMAGE"]),
        _node("UpscaleModelLoader", "Load Upscale Model", "loaders",
              {"model_name": [["RealESRGAN_x4plus.safetensors"]]}, ["UPSCALE_MODEL"]),
        _node("ImageUpscaleWithModel", "Upscale Image (using Model)", "image/upscaling",
              {"upscale_model": ["UPSCALE_MODEL"], "image": ["IMAGE"]}, ["IMAGE"]),
    ]
    return dict(nodes)
