"""FLUX the way users run it on small cards: UNETLoader with an fp8 weight_dtype, KSampler, then the
16-channel ae.safetensors through VAELoader and VAEDecode, all with the built-in nodes."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from core.models.tiny import write_tiny_vae16
from fp8_toys import relative_error, tiny_config, tiny_flux, write


@pytest.fixture()
def model_files(folders, tmp_path):
    unet_dir = Path(folders.folder_paths("diffusion_models")[0])
    unet_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(write(tiny_flux().state_dict(), tmp_path / "f.safetensors"), unet_dir / "flux1-dev-tiny.safetensors")
    write_tiny_vae16(Path(folders.folder_paths("vae")[0]) / "ae.safetensors")
    return folders


def conditioning(seed: int):
    g = torch.Generator().manual_seed(seed)
    return [[torch.randn(1, 4, tiny_config().context_in_dim, generator=g),
             {"pooled_output": torch.randn(1, tiny_config().vec_in_dim, generator=g), "guidance": 3.5}]]


def sample(model):
    from nodes.sampling import KSampler

    latent = {"samples": torch.zeros(1, 16, 6, 8)}
    (out,) = KSampler().execute(model, 7, 4, 1.0, "euler", "simple", conditioning(0), conditioning(1), latent, 1.0)
    return out


def test_fp8_flux_samples_close_to_full_precision_and_decodes(model_files, cpu_fp32):
    from nodes.loaders import UNETLoader, VAELoader
    from nodes.vae import VAEDecode

    (full,) = UNETLoader().execute("flux1-dev-tiny.safetensors", "default")
    (fp8,) = UNETLoader().execute("flux1-dev-tiny.safetensors", "fp8_e4m3fn")
    want, got = sample(full)["samples"], sample(fp8)["samples"]
    assert torch.isfinite(got).all() and 0 < relative_error(got, want) < 0.1
    (vae,) = VAELoader().execute("ae.safetensors")
    (image,) = VAEDecode().execute(vae, {"samples": got})
    assert image.shape == (1, 48, 64, 3)


def test_a_lora_on_the_fp8_model_changes_the_sample_and_leaves_the_base_clean(model_files, cpu_fp32):
    from nodes.loaders import UNETLoader

    (fp8,) = UNETLoader().execute("flux1-dev-tiny.safetensors", "fp8_e4m3fn")
    before = sample(fp8)["samples"]
    patched = fp8.clone()
    qkv = fp8.unet.double_blocks[0].img_attn.qkv.weight
    g = torch.Generator().manual_seed(2)
    patched.add_patches({"model.diffusion_model.double_blocks.0.img_attn.qkv.weight":
                         (1.0, torch.randn(qkv.shape[0], 4, generator=g) * 0.2, torch.randn(4, qkv.shape[1], generator=g) * 0.2)})
    assert not torch.allclose(sample(patched)["samples"], before)
    assert torch.equal(sample(fp8)["samples"], before)
