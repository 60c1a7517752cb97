"""FLUX.2 VAE: encode and decode equal to diffusers' AutoencoderKLFlux2 plus Flux2Pipeline's patchify and
batch-norm normalisation, the released layout on meta, and loading through VAELoader's path."""
from __future__ import annotations

import pytest
import torch

from tests import testdata
from flux2_toys import diffusers_vae_twin, tiny_vae_config


def tiny_vae(small_decoder: bool = False, seed: int = 1):
    from core.models.building import on_meta
    from core.models.tiny import fill_random
    from core.models.vae_flux2 import Flux2AutoEncoder

    vae = fill_random(on_meta(lambda: Flux2AutoEncoder(tiny_vae_config(small_decoder))), seed)
    g = torch.Generator().manual_seed(seed)
    vae.bn.running_mean.copy_(0.2 * torch.randn(128, generator=g))
    vae.bn.running_var.copy_(0.5 + torch.rand(128, generator=g))
    return vae


def diffusers_normalised_latent(ref, image):
    """What Flux2Pipeline._encode_vae_image makes of an image: posterior mode, 2x2 patches, batch-norm stats."""
    from diffusers.pipelines.flux2.pipeline_flux2 import Flux2Pipeline

    z = Flux2Pipeline._patchify_latents(ref.encode(image).latent_dist.mode())
    mean = ref.bn.running_mean.view(1, -1, 1, 1)
    std = torch.sqrt(ref.bn.running_var.view(1, -1, 1, 1) + ref.config.batch_norm_eps)
    return (z - mean) / std


def diffusers_decode(ref, latent):
    from diffusers.pipelines.flux2.pipeline_flux2 import Flux2Pipeline

    std = torch.sqrt(ref.bn.running_var.view(1, -1, 1, 1) + ref.config.batch_norm_eps)
    z = latent * std + ref.bn.running_mean.view(1, -1, 1, 1)
    return ref.decode(Flux2Pipeline._unpatchify_latents(z)).sample


@pytest.mark.parametrize("small_decoder", [False, True], ids=["flux2-vae", "small-decoder"])
def test_encode_equals_diffusers_with_the_pipelines_normalisation(small_decoder):
    ours = tiny_vae(small_decoder)
    ref = diffusers_vae_twin(ours)
    image = torch.rand(2, 3, 64, 48, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        got, want = ours.encode(image), diffusers_normalised_latent(ref, image)
    assert got.shape == (2, 128, 4, 3)
    assert float(want.abs().max()) > 0.5
    assert torch.allclose(got, want, atol=1e-4, rtol=0), float((got - want).abs().max())


@pytest.mark.parametrize("small_decoder", [False, True], ids=["flux2-vae", "small-decoder"])
def test_decode_equals_diffusers_after_undoing_the_normalisation(small_decoder):
    ours = tiny_vae(small_decoder)
    ref = diffusers_vae_twin(ours)
    latent = torch.randn(1, 128, 3, 4, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        got, want = ours.decode(latent), diffusers_decode(ref, latent)
    assert got.shape == (1, 3, 48, 64)
    assert float(want.abs().max()) > 0.1
    assert torch.allclose(got, want, atol=1e-4, rtol=0), float((got - want).abs().max())


def test_patchify_is_undone_by_unpatchify_and_orders_channels_as_bfl():
    from core.models.vae_flux2 import patchify, unpatchify

    z = torch.arange(2 * 4 * 4, dtype=torch.float32).reshape(1, 2, 4, 4)
    p = patchify(z)
    assert p.shape == (1, 8, 2, 2)
    # channel c*4 + 2*row + col of patch (i, j) is pixel (2i + row, 2j + col) of channel c
    assert float(p[0, 1 * 4 + 2 * 1 + 0, 1, 0]) == float(z[0, 1, 3, 0])
    assert torch.equal(unpatchify(p), z)


def test_full_size_vae_state_dict_equals_the_manifest():
    from core.models.vae_flux2 import Flux2AutoEncoder, detect_flux2_vae_config

    manifest = testdata.manifest("flux2_vae")
    with torch.device("meta"):
        ours = {k: list(v.shape) for k, v in Flux2AutoEncoder().state_dict().items()}
    assert ours == manifest["keys"]
    shapes = {k: tuple(v) for k, v in {**manifest["keys"], **manifest["optional_keys"]}.items()}
    assert detect_flux2_vae_config(shapes) == Flux2AutoEncoder().config


def test_vae_loader_path_loads_a_flux2_vae_file_as_a_16x_128_channel_vae(tmp_path, cpu_fp32):
    from core.models.checkpoint import load_vae
    from core.models.tiny import write_tiny_flux2_vae

    vae = load_vae(write_tiny_flux2_vae(tmp_path / "flux2-vae.safetensors"))
    assert (vae.downscale_ratio, vae.latent_channels) == (16, 128)
    image = torch.rand(1, 64, 96, 3, generator=torch.Generator().manual_seed(0))  # IMAGE: [B, H, W, C] in 0..1
    latent = vae.encode(image)
    assert latent.shape == (1, 128, 4, 6)
    decoded = vae.decode(latent)
    assert decoded.shape == (1, 64, 96, 3) and float(decoded.min()) >= 0 and float(decoded.max()) <= 1
    assert float(decoded.std()) > 0
