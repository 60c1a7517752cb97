"""Checkpoint loading: handles from a file, dtype choice, optional keys, and errors that name the file."""
from __future__ import annotations

import pickle

import pytest
import torch

from core.models.checkpoint import load_checkpoint, load_unet, load_vae
from core.models.weights import WeightsError, load_file


def test_checkpoint_gives_model_clip_and_vae(tiny_checkpoint, cpu_fp32):
    model, clip, vae = load_checkpoint(tiny_checkpoint("sd15"))
    assert model.config.family == "sd1" and model.latent_format.scale_factor == 0.18215
    assert hasattr(clip, "encode_from_tokens")
    assert vae.latent_channels == 4 and vae.downscale_ratio == 8


def test_sdxl_checkpoint_uses_the_sdxl_latent_scale(tiny_checkpoint, cpu_fp32):
    model, _clip, _vae = load_checkpoint(tiny_checkpoint("sdxl"), output_clip=False)
    assert model.latent_format.scale_factor == 0.13025


def test_weights_equal_the_file(tiny_checkpoint, cpu_fp32):
    path = tiny_checkpoint("sd15")
    sd, _ = load_file(path)
    model, _, vae = load_checkpoint(path, output_clip=False)
    for k, v in model.unet.state_dict().items():
        assert torch.equal(v, sd["model.diffusion_model." + k]), k
    for k, v in vae.vae.state_dict().items():
        assert torch.equal(v, sd["first_stage_model." + k]), k


def test_matching_dtype_loads_without_copying_the_file(tiny_checkpoint, cpu_fp32):
    model, _, _ = load_checkpoint(tiny_checkpoint("sd15"), output_clip=False)
    storages = {p.untyped_storage().data_ptr() for p in model.unet.parameters()}
    assert len(storages) == 1  # every parameter is a view of the one memory map


def test_forced_dtype_is_applied(tiny_checkpoint, cpu_fp32):
    model, _, vae = load_checkpoint(tiny_checkpoint("sd15"), output_clip=False, unet_dtype=torch.float16,
                                    vae_dtype=torch.bfloat16)
    assert model.dtype == torch.float16
    assert vae.vae.dtype == torch.bfloat16


def test_device_flags_choose_dtypes():
    from core import devices

    try:
        devices.configure({"cpu": True})
        assert devices.get_torch_device().type == "cpu"
        assert devices.unet_dtype() == torch.float32
        devices.configure({"cpu": True, "bf16_unet": True, "fp16_vae": True, "bf16_text_enc": True})
        assert (devices.unet_dtype(), devices.vae_dtype(), devices.text_encoder_dtype()) == \
            (torch.bfloat16, torch.float16, torch.bfloat16)
    finally:
        devices.configure(None)


def test_optional_keys_are_ignored(tiny_checkpoint, cpu_fp32):
    sd, _ = load_file(tiny_checkpoint("sd15"))
    assert "alphas_cumprod" in sd and "model_ema.decay" in sd  # the tiny file carries them
    model, _, _ = load_checkpoint(tiny_checkpoint("sd15"), output_clip=False)
    assert model.config.family == "sd1"


def test_unet_only_file_without_prefix_loads(tiny_checkpoint, tmp_path, cpu_fp32):
    from safetensors.torch import save_file

    sd, _ = load_file(tiny_checkpoint("sd15"))
    prefix = "model.diffusion_model."
    save_file({k[len(prefix):]: v.clone() for k, v in sd.items() if k.startswith(prefix)}, str(tmp_path / "u.safetensors"))
    assert load_unet(tmp_path / "u.safetensors").config.family == "sd1"


def test_vae_only_file_loads(tiny_checkpoint, tmp_path, cpu_fp32):
    from safetensors.torch import save_file

    sd, _ = load_file(tiny_checkpoint("sd15"))
    prefix = "first_stage_model."
    save_file({k[len(prefix):]: v.clone() for k, v in sd.items() if k.startswith(prefix)}, str(tmp_path / "v.safetensors"))
    assert load_vae(tmp_path / "v.safetensors").latent_channels == 4


def test_legacy_ckpt_with_state_dict_loads(tiny_checkpoint, tmp_path, cpu_fp32):
    sd, _ = load_file(tiny_checkpoint("sd15"))
    torch.save({"state_dict": {k: v.clone() for k, v in sd.items()}, "global_step": 1}, tmp_path / "m.ckpt")
    model, _, _ = load_checkpoint(tmp_path / "m.ckpt", output_clip=False)
    assert model.config.family == "sd1"


def test_truncated_safetensors_error_names_the_file(tiny_checkpoint, tmp_path):
    data = tiny_checkpoint("sd15").read_bytes()
    bad = tmp_path / "cut.safetensors"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError, match=r"cut\.safetensors.*truncated"):
        load_checkpoint(bad)


def test_wrong_file_type_is_refused(tmp_path):
    bad = tmp_path / "photo.ckpt"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    with pytest.raises(WeightsError, match=r"photo\.ckpt: not a model weight file"):
        load_checkpoint(bad)


class _Evil:
    def __reduce__(self):
        return (print, ("this must not run",))


def test_pickle_with_code_is_refused(tmp_path):
    bad = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {"x": torch.zeros(1)}, "payload": _Evil()}, bad)
    with pytest.raises(WeightsError, match=r"evil\.ckpt: refused to load"):
        load_checkpoint(bad)


def test_missing_weights_error_names_keys(tiny_checkpoint, tmp_path):
    from safetensors.torch import save_file

    sd, _ = load_file(tiny_checkpoint("sd15"))
    del sd["model.diffusion_model.out.2.weight"]
    del sd["model.diffusion_model.middle_block.0.in_layers.2.weight"]
    save_file({k: v.clone() for k, v in sd.items()}, str(tmp_path / "broken.safetensors"))
    with pytest.raises((WeightsError, ValueError), match=r"broken\.safetensors"):
        load_checkpoint(tmp_path / "broken.safetensors", output_clip=False)
