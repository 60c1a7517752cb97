"""ComfyUI's ``comfy.cli_args``: ``args`` (the parsed flags, as packs read them) and its enums.

``args`` reads the flags main.py parsed (core.cli.flags.parse_args stores them in
``core.cli.flags.current``) and answers ComfyUI's defaults for flags we do not have, so packs that
look at e.g. ``args.preview_method`` or ``args.listen`` see the real values.
"""
from __future__ import annotations

import enum


class LatentPreviewMethod(enum.Enum):
    NoPreviews = "none"
    Auto = "auto"
    Latent2RGB = "latent2rgb"
    TAESD = "taesd"


class PerformanceFeature(enum.Enum):
    Fp16Accumulation = "fp16_accumulation"
    Fp8MatrixMultiplication = "fp8_matrix_mult"
    CublasOps = "cublas_ops"



_DEFAULTS = {
    "listen": "127.0.0.1", "port": 8188, "tls_keyfile": None, "tls_certfile": None, "enable_cors_header": None,
    "max_upload_size": 100, "base_directory": None, "extra_model_paths_config": None, "output_directory": None,
    "temp_directory": None, "input_directory": None, "auto_launch": False, "disable_auto_launch": True,
    "cuda_device": None, "cuda_malloc": False, "disable_cuda_malloc": True, "force_fp32": False,
    "force_fp16": False, "fp32_unet": False, "fp64_unet": False, "bf16_unet": False, "fp16_unet": False,
    "fp8_e4m3fn_unet": False, "fp8_e5m2_unet": False, "fp16_vae": False, "fp32_vae": False, "bf16_vae": False,
    "cpu_vae": False, "fp8_e4m3fn_text_enc": False, "fp8_e5m2_text_enc": False, "fp16_text_enc": False,
    "fp32_text_enc": False, "force_channels_last": False, "directml": None, "oneapi_device_selector": None,
    "disable_ipex_optimize": False, "preview_method": LatentPreviewMethod.NoPreviews, "preview_size": 512,
    "cache_classic": False, "cache_lru": 0, "cache_none": False, "use_split_cross_attention": False,
    "use_quad_cross_attention": False, "use_pytorch_cross_attention": True, "use_sage_attention": False,
    "use_flash_attention": False, "disable_xformers": True, "force_upcast_attention": False,
    "dont_upcast_attention": False, "gpu_only": False, "highvram": False, "normalvram": False, "lowvram": False,
    "novram": False, "cpu": False, "reserve_vram": None, "default_hashing_function": "sha256",
    "disable_smart_memory": False, "deterministic": False, "fast": set(), "dont_print_server": False,
    "quick_test_for_ci": False, "windows_standalone_build": False, "disable_metadata": False,
    "disable_all_custom_nodes": False, "whitelist_custom_nodes": [], "disable_api_nodes": True,
    "multi_user": False, "verbose": "INFO", "log_stdout": False, "front_end_version": "comfyanonymous/ComfyUI@latest",
    "front_end_root": None, "user_directory": None, "enable_compress_response_body": False,
    "comfy_api_base": "https://api.comfy.org", "database_url": None,
}


class _Args:
    """Attribute reads go to the flags main.py parsed, else ComfyUI's default for that flag."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        overrides = self.__dict__
        if name in overrides:
            return overrides[name]
        from core.cli import flags

        parsed = getattr(flags, "current", None)
        if parsed is not None and hasattr(parsed, name):
            value = getattr(parsed, name)
            if name == "preview_method":
                try:
                    return LatentPreviewMethod(value)
                except ValueError:
                    return LatentPreviewMethod.NoPreviews
            return value
        if name in _DEFAULTS:
            return _DEFAULTS[name]
        raise AttributeError(f"comfy.cli_args.args has no flag {name!r}")

    def __setattr__(self, name, value):  # packs set flags (e.g. args.preview_method) for the process
        self.__dict__[name] = value


args = _Args()
