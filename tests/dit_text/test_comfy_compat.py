"""Plugins load FLUX / SD3 text encoders through ComfyUI's ``comfy.sd.load_clip`` and ``CLIPType``."""
import pytest

from core.compat.comfy import sd as comfy_sd


def test_flux_type_with_two_files(tiny_te_dir):
    clip = comfy_sd.load_clip([tiny_te_dir / "t5xxl_fp16.safetensors", tiny_te_dir / "clip_l.safetensors"],
                              clip_type=comfy_sd.CLIPType.FLUX)
    assert clip.family == "flux"


def test_three_files_are_sd3_whatever_the_type(tiny_te_dir):
    names = ["clip_l.safetensors", "clip_g.safetensors", "t5xxl_fp8_e4m3fn_scaled.safetensors"]
    clip = comfy_sd.load_clip([tiny_te_dir / n for n in names])
    assert clip.family == "sd3" and [e.role.name for e in clip.encoders] == ["l", "g", "t5xxl"]


def test_a_type_without_a_loader_is_named(tiny_te_dir):
    with pytest.raises(ValueError, match="MOCHI is not supported"):
        comfy_sd.load_clip([tiny_te_dir / "t5xxl_fp16.safetensors"], clip_type=comfy_sd.CLIPType.MOCHI)
