"""Qwen-Image VAE (Wan 2.1 layout): equal to diffusers' AutoencoderKLQwenImage on one frame, detected by keys,
loaded by VAELoader's path."""
from __future__ import annotations

import pytest
import torch

from qwen_toys import diffusers_vae, tiny_vae


def _image(B=2, H=32, W=48, seed=0):
    return torch.rand(B, 3, H, W, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_encode_equals_diffusers_latent_mode():
    ours = tiny_vae(seed=1)
    ref = diffusers_vae(ours)
    x = _image()
    with torch.no_grad():
        got = ours.encode(x)
        want = ref.encode(x[:, :, None]).latent_dist.mode()[:, :, 0]
    assert got.shape == (2, 16, 4, 6)
    assert float(want.abs().max()) > 0.1
    assert torch.allclose(got, want, atol=1e-4, rtol=0), float((got - want).abs().max())


def test_decode_equals_diffusers_decode():
    ours = tiny_vae(seed=2)
    ref = diffusers_vae(ours)
    z = torch.randn(2, 16, 4, 6, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        got = ours.decode(z)
        want = ref.decode(z[:, :, None]).sample[:, :, 0]
    assert got.shape == (2, 3, 32, 48)
    assert float(want.abs().max()) > 0.1
    assert torch.allclose(got, want, atol=1e-4, rtol=0), float((got - want).abs().max())


def test_config_is_read_back_from_the_keys():
    from core.models.tiny import tiny_wan_vae_config, tiny_wan_vae_state_dict
    from core.models.vae_wan import detect_config, is_wan_vae

    sd = tiny_wan_vae_state_dict()
    assert is_wan_vae(sd)
    assert detect_config(sd) == tiny_wan_vae_config()


def test_full_size_layout_detects_as_the_release_config():
    from core.models.vae_wan import WanVAE, WanVAEConfig, detect_config

    with torch.device("meta"):
        sd = WanVAE().state_dict()
    assert detect_config(sd) == WanVAEConfig()


def test_vae_loader_path_loads_the_file_into_a_vae_handle(tmp_path, cpu_fp32):
    from core.models.checkpoint import load_vae
    from core.models.tiny import write_tiny_qwen_image_vae

    path = write_tiny_qwen_image_vae(tmp_path / "qwen_image_vae.safetensors", seed=5)
    vae = load_vae(path)
    assert vae.downscale_ratio == 8 and vae.latent_channels == 16
    image = torch.rand(1, 40, 56, 3, generator=torch.Generator().manual_seed(1))
    latent = vae.encode(image)
    assert latent.shape == (1, 16, 5, 7)
    out = vae.decode(latent)
    assert out.shape == (1, 40, 56, 3) and 0 <= float(out.min()) and float(out.max()) <= 1
    with torch.no_grad():
        direct = tiny_vae(seed=5).encode(image.movedim(-1, 1) * 2 - 1)
    assert torch.allclose(latent, direct, atol=1e-5)


def test_a_video_frame_count_is_refused_with_a_reason():
    from core.models.vae_wan import CausalConv3d

    conv = CausalConv3d(4, 4, (3, 1, 1))
    with pytest.raises(RuntimeError, match="videos are not supported"):
        conv(torch.zeros(1, 4, 2, 2))


def test_full_size_vae_equals_the_qwen_image_vae_manifest():
    from core.models.vae_wan import WanVAE
    from tests import testdata

    manifest = testdata.manifest("qwen_image_vae")
    with torch.device("meta"):
        ours = {k: list(v.shape) for k, v in WanVAE().state_dict().items()}
    assert ours == manifest["keys"]
