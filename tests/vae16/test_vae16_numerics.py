"""16-channel VAEs (FLUX.1 ae.safetensors, SD3) loaded by our loaders equal diffusers' AutoencoderKL with
the same weights, read from one file by each side's own reading of the LDM layout."""
from __future__ import annotations

import pytest
import torch

from core.models.tiny import tiny_vae16_state_dict, write_tiny_vae16
from core.models.vae import VAEConfig
from core.models.weights import save_safetensors
from vae16_toys import diffusers_twin

# two levels with a width change: exercises nin_shortcut, down/upsampling and the mid attention
SMALL = VAEConfig(ch=32, ch_mult=(1, 2), num_res_blocks=2, z_channels=16, embed_dim=16, use_quant_conv=False)


@pytest.fixture()
def small_file(tmp_path):
    return save_safetensors(tiny_vae16_state_dict(seed=5, config=SMALL), tmp_path / "ae.safetensors")


def test_encode_equals_diffusers_latent_mean(small_file, cpu_fp32):
    from core.models.checkpoint import load_vae
    from core.models.weights import load_file

    ours = load_vae(small_file)
    ref = diffusers_twin(load_file(small_file)[0], SMALL)
    x = torch.rand(1, 3, 24, 20, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        expected = ref.encode(x).latent_dist.mean
        got = ours.vae.encode(x)
    assert got.shape == (1, 16, 12, 10)
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=0)


def test_decode_equals_diffusers(small_file, cpu_fp32):
    from core.models.checkpoint import load_vae
    from core.models.weights import load_file

    ours = load_vae(small_file)
    ref = diffusers_twin(load_file(small_file)[0], SMALL)
    z = torch.randn(2, 16, 6, 7, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = ref.decode(z).sample
        got = ours.vae.decode(z)
    assert got.shape == (2, 3, 12, 14)
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=0)


def test_handle_reports_16_latent_channels_and_encodes_images(tmp_path, cpu_fp32):
    from core.models.checkpoint import load_vae

    vae = load_vae(write_tiny_vae16(tmp_path / "ae.safetensors"))
    assert (vae.latent_channels, vae.downscale_ratio) == (16, 8)
    latent = vae.encode(torch.rand(1, 64, 48, 3))
    assert latent.shape == (1, 16, 8, 6)
    image = vae.decode(latent)
    assert image.shape == (1, 64, 48, 3) and 0 <= image.min() and image.max() <= 1


@pytest.mark.parametrize("prefix", ["vae.", "first_stage_model."])
def test_bundled_prefixes_load_the_same_weights(tmp_path, cpu_fp32, prefix):
    from core.models.checkpoint import load_vae

    bare = load_vae(write_tiny_vae16(tmp_path / "ae.safetensors", seed=2))
    bundled = load_vae(save_safetensors(tiny_vae16_state_dict(seed=2, prefix=prefix), tmp_path / "bundle.safetensors"))
    z = torch.randn(1, 16, 4, 4)
    torch.testing.assert_close(bundled.vae.decode(z), bare.vae.decode(z), atol=0, rtol=0)


def test_a_4_channel_latent_into_a_16_channel_vae_is_refused_with_the_reason(tmp_path, cpu_fp32):
    from core.models.checkpoint import load_vae

    vae = load_vae(write_tiny_vae16(tmp_path / "ae.safetensors"))
    with pytest.raises(ValueError, match="4 channels but this VAE takes 16"):
        vae.decode(torch.randn(1, 4, 8, 8))


def test_tiled_decode_of_a_16_channel_latent_is_close_to_whole_decode(tmp_path, cpu_fp32):
    from core.models.checkpoint import load_vae

    vae = load_vae(write_tiny_vae16(tmp_path / "ae.safetensors"))
    latent = torch.randn(1, 16, 24, 24, generator=torch.Generator().manual_seed(3))
    whole = vae.decode(latent)
    tiled = vae.decode_tiled(latent, tile_size=128, overlap=32)
    assert tiled.shape == whole.shape == (1, 192, 192, 3)
    # the mid-block attention sees the whole image, so tiles differ a little, not a lot
    assert (tiled - whole).abs().mean() < 0.25 * (whole - whole.mean()).abs().mean()


def test_tiled_encode_gives_16_channel_latents(tmp_path, cpu_fp32):
    from core.models.checkpoint import load_vae

    vae = load_vae(write_tiny_vae16(tmp_path / "ae.safetensors"))
    image = torch.rand(1, 192, 160, 3, generator=torch.Generator().manual_seed(4))
    whole = vae.encode(image)
    tiled = vae.encode_tiled(image, tile_size=128, overlap=32)
    assert tiled.shape == whole.shape == (1, 16, 24, 20)
    assert (tiled - whole).abs().mean() < 0.25 * whole.abs().mean()


def test_one_tile_decode_equals_whole_decode_for_16_channels(tmp_path, cpu_fp32):
    from core.models.checkpoint import load_vae

    vae = load_vae(write_tiny_vae16(tmp_path / "ae.safetensors"))
    latent = torch.randn(1, 16, 10, 12)
    torch.testing.assert_close(vae.decode_tiled(latent, tile_size=512, overlap=64), vae.decode(latent))
